"""An ensemble of networks (the same recipe, other seeds), measured on a validation split (never
the test split): the estimates of the first k of the given models averaged, k = 1 .. K.

Prints, per label, the per-sample and per-simulation RMSE (physical units) of each model and of
each average, and the correlation of the members' per-sample errors (what averaging can still
remove). docs/model.md, "An ensemble of networks". With ``--paired-with`` (evaluate's
predictions.csv on the same split), the average of all K is also compared with a baseline's column
of that file (default: the summary ridge) by the paired bootstrap over simulations that evaluate
uses (``--config``: its evaluate.n_bootstrap and bootstrap_seed).

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
    p.add_argument("--paired-with", metavar="PREDICTIONS_CSV",
                   help="evaluate's predictions.csv on the same split: compare with a baseline's column")
    p.add_argument("--baseline", default="summary_ridge", help="column prefix in that file")
    p.add_argument("--config", nargs="+", default=[str(ROOT / "config" / "config.yaml")],
                   help="config files: evaluate.n_bootstrap and evaluate.bootstrap_seed")
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
    if args.paired_with:
        keys = [(int(d["sim"]), int(d["subvolume"])) for d in ids]
        base = baseline_column(args.paired_with, args.baseline, names, keys)
        show(args.baseline, base)
        paired(np.mean(preds, axis=0), base, true, sims, names, args)
    return 0


def baseline_column(path: str, prefix: str, names: list[str], keys: list[tuple]) -> np.ndarray:
    """A baseline's estimates from evaluate's predictions.csv, in the order of ``keys``."""
    import csv

    with open(path, newline="") as fh:
        rows = {(int(r["sim"]), int(r["subvolume"])): r for r in csv.DictReader(fh)}
    missing = [k for k in keys if k not in rows]
    if missing:
        raise SystemExit(f"{path}: no row for (sim, subvolume) {missing[0]}: not the same split")
    try:
        return np.array([[float(rows[k][f"{prefix}_{n}"]) for n in names] for k in keys])
    except KeyError as err:
        raise SystemExit(f"{path}: no column {err}; expected {prefix}_<label>") from None


def paired(pred: np.ndarray, base: np.ndarray, true: np.ndarray, sims: np.ndarray,
           names: list[str], args) -> None:
    """Per sample and per simulation: RMSE(ensemble) - RMSE(baseline), paired over simulations."""
    from compare_heads import paired_levels
    from cosmoflow import config as cfgmod
    from cosmoflow.evaluate.bootstrap import paired_rmse_difference, resample_weights

    ev = cfgmod.load(*args.config)["evaluate"]
    w = resample_weights(len(np.unique(sims)), int(ev["n_bootstrap"]), int(ev["bootstrap_seed"]))
    for level, (a, b, t, g) in paired_levels(pred, base, true, sims).items():
        d = paired_rmse_difference(a, b, t, g, names, w, 0.95)
        print(json.dumps({f"mean of all {level} - {args.baseline}": {
            n: {"diff": round(v["diff_rmse"], 5), "interval": [round(x, 5) for x in v["interval"]],
                "P(<0)": round(v["frac_below_zero"], 3)} for n, v in d.items()}}))

if __name__ == "__main__":
    sys.exit(main())
