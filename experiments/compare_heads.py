"""Two networks' point estimates on the same test split: RMSE of each with its interval and the
paired difference, from evaluate's predictions.csv of each (same samples, same order checked).

    python experiments/compare_heads.py \
        --a gaussian=results/workstation/evaluate/predictions.csv \
        --b point=results/workstation_point/evaluate/predictions.csv

Per parameter and level (per sample; per simulation: the plain mean of a simulation's samples'
estimates for both, so the two networks are combined alike): RMSE(a), RMSE(b) with 95 %
percentile intervals, RMSE(a) - RMSE(b) with its interval and P(a better), all from the same
bootstrap resamples of whole test simulations (evaluate's: 2000 resamples, seed 2018). Prints
markdown.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cosmoflow.evaluate import bootstrap  # noqa: E402


def read_predictions(path: str) -> tuple[list[str], list[tuple[str, str, str]], np.ndarray, np.ndarray]:
    """(label names, sample keys (sim, subvolume, z), truths (n, L), network estimates (n, L))
    of one evaluate predictions.csv."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path}: no rows")
    names = [k[len("true_"):] for k in rows[0] if k.startswith("true_")]
    keys = [(r["sim"], r["subvolume"], r["z"]) for r in rows]
    true = np.array([[float(r[f"true_{n}"]) for n in names] for r in rows])
    pred = np.array([[float(r[f"pred_{n}"]) for n in names] for r in rows])
    return names, keys, true, pred


def paired_levels(pred_a: np.ndarray, pred_b: np.ndarray, true: np.ndarray, groups) -> dict:
    """{"per sample": (a, b, truths, groups), "per simulation": the same of each simulation's plain
    mean of its samples' estimates}: two estimators lined up for a paired comparison at both levels."""
    ma, ta, sims = bootstrap.simulation_means(pred_a, true, groups)
    mb, _, _ = bootstrap.simulation_means(pred_b, true, groups)
    return {"per sample": (pred_a, pred_b, true, groups), "per simulation": (ma, mb, ta, sims)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", required=True, help="NAME=predictions.csv of the first network")
    p.add_argument("--b", required=True, help="NAME=predictions.csv of the second network")
    p.add_argument("--n-bootstrap", type=int, default=2000)
    p.add_argument("--seed", type=int, default=2018)
    p.add_argument("--confidence", type=float, default=0.95)
    args = p.parse_args(argv)
    (name_a, path_a), (name_b, path_b) = (s.split("=", 1) for s in (args.a, args.b))
    names, keys, true, pred_a = read_predictions(path_a)
    names_b, keys_b, true_b, pred_b = read_predictions(path_b)
    if names != names_b or keys != keys_b or not np.array_equal(true, true_b):
        raise ValueError(f"{path_a} and {path_b} hold different samples or labels: not the same test split")
    groups = np.array([k[0] for k in keys])
    levels = paired_levels(pred_a, pred_b, true, groups)
    print(f"{len(set(groups))} test simulations, {len(groups)} samples; {args.n_bootstrap} "
          f"resamples of whole simulations, {100 * args.confidence:g} % intervals\n")
    print(f"| level | parameter | {name_a} RMSE | {name_b} RMSE | {name_a} - {name_b} | P({name_a} better) |")
    print("|---|---|---|---|---|---:|")
    for level, (a, b, t, g) in levels.items():
        w = bootstrap.resample_weights(len(set(g)), args.n_bootstrap, args.seed)
        ra = bootstrap.bootstrap_metrics(a, t, g, names, w, args.confidence)
        rb = bootstrap.bootstrap_metrics(b, t, g, names, w, args.confidence)
        diff = bootstrap.paired_rmse_difference(a, b, t, g, names, w, args.confidence)
        for n in names:
            cell = lambda r: f"{r[n]['rmse']:.4f} [{r[n]['interval']['rmse'][0]:.4f}, {r[n]['interval']['rmse'][1]:.4f}]"  # noqa: E731
            d = diff[n]
            print(f"| {level} | {n} | {cell(ra)} | {cell(rb)} | {d['diff_rmse']:+.4f} "
                  f"[{d['interval'][0]:+.4f}, {d['interval'][1]:+.4f}] | {d['frac_below_zero']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
