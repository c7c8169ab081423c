"""An ensemble of networks (the same recipe, other seeds), measured on a validation split (never
the test split): the estimates of the first k of the given models averaged, k = 1 .. K.

Prints, per label, the per-sample and per-simulation RMSE (physical units) of each model and of
each average, and the correlation of the members' per-sample errors (what averaging can still
remove). docs/model.md, "An ensemble of networks".

    python experiments/ensemble.py --manifest results/ablation_default/data/<key>/val/manifest.json \\
        --models results/ablation_default/runs/D3-s64-recheck/model.keras \\
                 results/ablation_default/runs/D19-s64-seed43/model.keras ...
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rmse(pred: np.ndarray, true: np.ndarray, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per-sample RMSE, per-simulation RMSE of the sample means) per label."""
    from cosmoflow.evaluate.bootstrap import simulation_means

    pred_sim, true_sim, _ = simulation_means(pred, true, sims)
    return (np.sqrt(((pred - true) ** 2).mean(0)), np.sqrt(((pred_sim - true_sim) ** 2).mean(0)))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", required=True, help="model.keras files (same labels)")
    p.add_argument("--manifest", required=True, help="a validation split's manifest.json")
    p.add_argument("--input-norm", default="log1p")
    args = p.parse_args()

    from cosmoflow.data.reader import read_manifest
    from cosmoflow.evaluate.stage import predict

    names = read_manifest(args.manifest)["label_names"]
    preds, true, sims = [], None, None
    for path in args.models:
        mu, t, ids = predict(path, args.manifest, args.input_norm)
        preds.append(mu)
        true, sims = t, np.array([d["sim"] for d in ids])

    def show(what: str, pred: np.ndarray) -> None:
        ps, sim = rmse(pred, true, sims)
        print(json.dumps({what: {"per_sample": dict(zip(names, np.round(ps, 5).tolist())),
                                 "per_simulation": dict(zip(names, np.round(sim, 5).tolist()))}}))

    for path, pred in zip(args.models, preds):
        show(Path(path).parent.name, pred)
    for k in range(2, len(preds) + 1):
        show(f"mean of the first {k}", np.mean(preds[:k], axis=0))
    err = np.stack([pr - true for pr in preds])             # models, samples, labels
    corr = {n: float(np.mean([np.corrcoef(err[i, :, j], err[m, :, j])[0, 1]
                              for i in range(len(preds)) for m in range(i + 1, len(preds))]))
            for j, n in enumerate(names)} if len(preds) > 1 else {}
    print(json.dumps({"mean error correlation between members": {k: round(v, 3) for k, v in corr.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
