"""How well each estimator reads the amplitude at a known tilt, from an evaluate stage's
predictions.csv (run it on a validation split: ``python -m cosmoflow.evaluate --test-manifest
<val manifest> ...``).

Per sample, each estimator's sigma_8 error e is regressed on the true n_s (least squares with
an intercept, over the file's samples); what is left, rms(e - fit), is its sigma_8 error with
the amplitude-tilt degeneracy taken out (docs/model.md, "Statistics pooling"). Also printed:
the plain RMSE, the slope d e / d n_s and the correlation of the sigma_8 and n_s errors.

    python experiments/amplitude_at_fixed_tilt.py results/val128/old/predictions.csv
"""
from __future__ import annotations

import argparse
import csv
import sys

import numpy as np

#: predictions.csv column prefixes (evaluate's names) -> what they are
ESTIMATORS = {"pred": "network", "pk": "P(k) ridge", "summary_ridge": "summary ridge",
              "network_stats": "network + sample statistics"}


def at_fixed_tilt(err: np.ndarray, true_ns: np.ndarray) -> tuple[float, float]:
    """(rms of ``err`` less its least-squares line in ``true_ns``, that line's slope)."""
    X = np.c_[np.ones_like(err), true_ns - true_ns.mean()]
    coef, *_ = np.linalg.lstsq(X, err, rcond=None)
    return float(np.sqrt(((err - X @ coef) ** 2).mean())), float(coef[1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("predictions", help="an evaluate stage's predictions.csv")
    args = p.parse_args()
    with open(args.predictions, newline="") as fh:
        rows = list(csv.DictReader(fh))
    col = lambda k: np.array([float(r[k]) for r in rows])  # noqa: E731
    s8, ns = col("true_sigma_8"), col("true_n_s")
    print(f"{len(rows)} samples of {args.predictions}")
    print("| estimator | sigma_8 RMSE | at fixed n_s | slope | corr(e_sigma_8, e_n_s) |")
    print("|---|---:|---:|---:|---:|")
    for prefix, name in ESTIMATORS.items():
        if f"{prefix}_sigma_8" not in rows[0]:
            continue
        e = col(f"{prefix}_sigma_8") - s8
        e_ns = col(f"{prefix}_n_s") - ns
        fixed, slope = at_fixed_tilt(e, ns)
        print(f"| {name} | {np.sqrt((e ** 2).mean()):.4f} | {fixed:.4f} | {slope:+.3f} | "
              f"{np.corrcoef(e, e_ns)[0, 1]:+.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
