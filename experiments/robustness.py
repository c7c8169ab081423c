"""Robustness to the simulator: one trained network's estimates on simulations of the same
cosmologies (same seeds) made by two engines, from ``python -m cosmoflow.predict`` tables.

    python experiments/robustness.py --truth results/workstation/cosmologies.csv \
        --table builtin=results/uq/predict_builtin.csv --table pycola3=results/uq/predict_pycola3.csv

Per engine and parameter: bias (mean estimate - truth) and RMSE per simulation (predict's input
rows: evaluate's per-simulation combination), coverage of the 68 % and 95 % intervals per sample
and per simulation (the widths as predict wrote them: give it --calibration); then the paired
shift between the engines (estimate(b) - estimate(a) on the same simulation). Intervals: 95 %
percentile bootstrap over simulations (2000 resamples, seed 2018). Prints markdown.
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cosmoflow.evaluate import bootstrap, calibration  # noqa: E402

LEVELS = (0.6827, 0.95)


def read_table(path: str, labels: list[str]) -> dict:
    """{"sample": (sims, mu, sd), "input": (sims, mu, sd)} of a predict CSV; the simulation is the
    5-digit folder name in the input's path (results/.../voxels/00016)."""
    out = {"sample": ([], [], []), "input": ([], [], [])}
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            m = re.search(r"(\d{5})", Path(r["input"]).name) or re.search(r"/(\d{5})(/|$)", r["input"])
            if m is None:
                raise ValueError(f"{path}: no simulation id in input {r['input']!r}")
            sims, mu, sd = out[r["row"]]
            sims.append(m.group(1))
            mu.append([float(r[n]) for n in labels])
            sd.append([float(r[f"{n}_sd"]) if r[f"{n}_sd"] else np.nan for n in labels])
    return {k: (np.array(s), np.array(m), np.array(d)) for k, (s, m, d) in out.items()}


def read_truth(path: str, labels: list[str]) -> dict:
    with open(path, newline="") as fh:
        return {r["sim"]: np.array([float(r[n]) for n in labels]) for r in csv.DictReader(fh)}


def ci(values: np.ndarray) -> str:
    lo, hi = np.percentile(values, [2.5, 97.5])
    return f"[{lo:+.4f}, {hi:+.4f}]"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--truth", required=True, help="cosmologies.csv of the simulations")
    p.add_argument("--table", action="append", required=True, metavar="NAME=CSV",
                   help="predict's output for one engine (give two to compare)")
    p.add_argument("--labels", default="Omega_m,sigma_8,n_s")
    args = p.parse_args(argv)
    labels = args.labels.split(",")
    truth = read_truth(args.truth, labels)
    tables = {}
    for item in args.table:
        name, _, path = item.partition("=")
        tables[name] = read_table(path, labels)
    rng_w = None
    print("| engine | parameter | bias per simulation [95 %] | RMSE per simulation | coverage 68 % / 95 % per sample | per simulation |")
    print("|---|---|---|---|---|---|")
    for name, t in tables.items():
        sims, mu, sd = t["input"]
        order = np.argsort(sims)
        sims, mu, sd = sims[order], mu[order], sd[order]
        true = np.stack([truth[s] for s in sims])
        if rng_w is None:
            rng_w = bootstrap.resample_weights(len(sims), 2000, 2018)
        err = mu - true
        bias_res = (rng_w @ err) / len(sims)
        s_sims, s_mu, s_sd = t["sample"]
        s_true = np.stack([truth[s] for s in s_sims])
        for j, n in enumerate(labels):
            cov_s = [calibration.covered(s_mu[:, j:j + 1], s_sd[:, j:j + 1], s_true[:, j:j + 1], q).mean()
                     for q in LEVELS]
            cov_i = [calibration.covered(mu[:, j:j + 1], sd[:, j:j + 1], true[:, j:j + 1], q).mean()
                     for q in LEVELS]
            print(f"| {name} | {n} | {err[:, j].mean():+.4f} {ci(bias_res[:, j])} | "
                  f"{np.sqrt(np.mean(err[:, j] ** 2)):.4f} | {cov_s[0]:.2f} / {cov_s[1]:.2f} | "
                  f"{cov_i[0]:.2f} / {cov_i[1]:.2f} |")
    names = list(tables)
    if len(names) == 2:
        a, b = (tables[k]["input"] for k in names)
        common = sorted(set(a[0]) & set(b[0]))
        ia = {s: i for i, s in enumerate(a[0])}
        ib = {s: i for i, s in enumerate(b[0])}
        d = np.stack([b[1][ib[s]] - a[1][ia[s]] for s in common])
        w = bootstrap.resample_weights(len(common), 2000, 2018)
        res = (w @ d) / len(common)
        print(f"\nPaired shift {names[1]} - {names[0]} per simulation ({len(common)} simulations):")
        for j, n in enumerate(labels):
            print(f"- {n}: {d[:, j].mean():+.4f} {ci(res[:, j])} (sd of the shift {d[:, j].std(ddof=1):.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
