"""Coverage of a gaussian-head network's calibrated intervals with more simulations than one
config's splits: the radii fitted on several validation manifests pooled, the coverage checked on
several test manifests pooled (simulations told apart by manifest), with the evaluate stage's own
functions (cosmoflow.evaluate.calibration: fit, per_simulation, report; bootstrap over test
simulations).

    python experiments/calibration_more.py --model results/workstation/train/model.keras \
        --val results/workstation/tfrecords/val/manifest.json \
            results/workstation_extra/tfrecords/val/manifest.json \
        --test results/workstation/tfrecords/test/manifest.json \
            results/workstation_extra/tfrecords/test/manifest.json

Prints, per level (per sample, per simulation) and parameter, the coverage of the 68.27 % and
95 % intervals [95 % bootstrap interval], for the pooled test split and for each test manifest
alone (all calibrated on the pooled validation).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cosmoflow.evaluate import bootstrap, calibration  # noqa: E402
from cosmoflow.evaluate.stage import predict_with_widths  # noqa: E402

def pooled(model: str, manifests: list[str], input_norm: str):
    """(mu, sd, true, sims) of every manifest's samples; sims as '<manifest index>:<sim>'."""
    parts = [predict_with_widths(model, m, input_norm) for m in manifests]
    sims = np.concatenate([[f"{i}:{d['sim']}" for d in ids] for i, (*_, ids) in enumerate(parts)])
    return (*(np.concatenate([p[k] for p in parts]) for k in range(3)), sims)


def coverage_rows(name: str, mu, sd, true, sims, radii, names, n_boot: int, seed: int) -> list[str]:
    mu_s, sd_s, true_s, groups = calibration.per_simulation(mu, sd, true, sims)
    w = bootstrap.resample_weights(len(groups), n_boot, seed)
    rows = []
    for level, args in (("per_sample", (mu, sd, true, sims)), ("per_simulation", (mu_s, sd_s, true_s, groups))):
        rep = calibration.report(*args, names, radii=radii[level], weights=w, confidence=0.95)
        for n in names:
            cells = [f"{c['value']:.3f} [{c['interval'][0]:.3f}, {c['interval'][1]:.3f}]"
                     for c in (rep[n]["coverage"][f"{q:g}"] for q in calibration.REPORTED_LEVELS)]
            rows.append(f"| {name} ({len(groups)} sims) | {level.replace('_', ' ')} | {n} | "
                        + " | ".join(cells) + f" | {rep[n]['mean_sd']:.4f} | {rep[n]['rmse']:.4f} |")
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--val", nargs="+", required=True, help="validation manifests (fit the radii)")
    p.add_argument("--test", nargs="+", required=True, help="test manifests (check them)")
    p.add_argument("--input-norm", default="log1p")
    p.add_argument("--n-bootstrap", type=int, default=2000)
    p.add_argument("--seed", type=int, default=12345)
    args = p.parse_args(argv)
    mu_v, sd_v, true_v, sims_v = pooled(args.model, args.val, args.input_norm)
    names = ["Omega_m", "sigma_8", "n_s"][:mu_v.shape[1]]
    radii = calibration.fit(mu_v, sd_v, true_v, sims_v)
    print(f"radii fitted on {len(np.unique(sims_v))} validation simulations ({len(sims_v)} samples):")
    for level, r in radii.items():
        print(f"  {level.replace('_', ' ')}: " + ", ".join(
            f"{q:g}: " + " / ".join(f"{x:.3f}" for x in r[q]["radius"]) + f" ({r[q]['method']})"
            for q in calibration.REPORTED_LEVELS))
    mu_t, sd_t, true_t, sims_t = pooled(args.model, args.test, args.input_norm)
    print("\n| test | level | parameter | 68.27 % | 95 % | mean width | RMSE |")
    print("|---|---|---|---|---|---:|---:|")
    for line in coverage_rows("pooled", mu_t, sd_t, true_t, sims_t, radii, names, args.n_bootstrap, args.seed):
        print(line)
    for i, m in enumerate(args.test):
        keep = np.char.startswith(sims_t.astype(str), f"{i}:")
        for line in coverage_rows(Path(m).parents[2].name, mu_t[keep], sd_t[keep], true_t[keep],
                                  sims_t[keep], radii, names, args.n_bootstrap, args.seed):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
