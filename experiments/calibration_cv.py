"""Which width calibration to use, chosen on the validation split alone: leave-one-simulation-out
cross-validation over the validation simulations of a gaussian-head network.

    python experiments/calibration_cv.py --model results/uq/train/model.keras \
        --val-manifest results/workstation/tfrecords/val/manifest.json

For each validation simulation: fit the calibration on the others, cover that one's samples;
pooled coverage of the 68.27 % and 95 % intervals per method and parameter:
- ``rms``: one factor per parameter making the standardised residuals unit-RMS (Gaussian);
- ``quantile``: one factor per parameter and level, the level's quantile of |residual| / width
  (split-conformal with normalised scores, finite-sample rank ceil((n + 1) q)).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cosmoflow.evaluate import calibration  # noqa: E402
from cosmoflow.evaluate.stage import predict_with_widths  # noqa: E402

LEVELS = (0.6827, 0.95)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--val-manifest", required=True)
    p.add_argument("--input-norm", default="log1p")
    args = p.parse_args(argv)
    mu, sd, true, ids = predict_with_widths(args.model, args.val_manifest, args.input_norm)
    sims = np.array([d["sim"] for d in ids])
    names = ["Omega_m", "sigma_8", "n_s"][:mu.shape[1]]
    z = np.abs(true - mu) / sd
    cover = {m: {q: np.zeros_like(z) for q in LEVELS} for m in ("rms", "quantile")}
    for s in np.unique(sims):
        fit, held = sims != s, sims == s
        rms = np.sqrt(np.mean(z[fit] ** 2, axis=0))
        n = int(fit.sum())
        for q in LEVELS:
            cover["rms"][q][held] = z[held] <= calibration.z_of(q) * rms
            k = min(int(np.ceil((n + 1) * q)), n) - 1
            cover["quantile"][q][held] = z[held] <= np.sort(z[fit], axis=0)[k]
    print(f"{len(np.unique(sims))} validation simulations, {len(z)} samples; leave-one-simulation-out")
    print("| method | parameter | coverage 68.27 % | coverage 95 % |")
    print("|---|---|---:|---:|")
    for m, c in cover.items():
        for j, n in enumerate(names):
            print(f"| {m} | {n} | {c[0.6827][:, j].mean():.3f} | {c[0.95][:, j].mean():.3f} |")
    err = {m: np.mean([abs(c[q][:, j].mean() - q) for q in LEVELS for j in range(2)]) for m, c in cover.items()}
    print("mean |coverage - nominal| over Omega_m, sigma_8 and both levels:",
          {m: round(v, 4) for m, v in err.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
