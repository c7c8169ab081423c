"""What limits a network's sigma_8 per sample, measured on a validation split (never the test
split): docs/model.md, "What limits sigma_8 per sample".

Prints, per sample, RMSE (physical units) on the training split (in-sample) and on the
validation split of
- the network's own estimates (its fit to its own training samples against new ones: a gap
  means overfitting, none means the recipe does not fit the training split any better);
- ridges fitted on the training split (penalty per parameter by grouped CV over training
  simulations, the evaluate stage's) on: the summary statistics (the summary ridge), the
  network's globally pooled last-block features (``global_pool``: a linear read-out of what
  the conv layers compute, in place of the trained head), both, the network's estimates + the
  statistics (``network_stats``);
- the same ridges given the true n_s as one more input (an oracle: how much of each one's
  sigma_8 error is its ignorance of the tilt).

    python experiments/sigma8_limits.py --model results/workstation/train/model.keras \\
        --train <records>/train/manifest.json --val <records>/val/manifest.json \\
        --config config/config.yaml config/workstation.yaml
"""
from __future__ import annotations

import argparse

import numpy as np

import split_features


def pooled_features(model_path: str, samples: list, input_norm: str) -> np.ndarray:
    """The ``global_pool`` layer's output (n, F) of the saved network on the samples' counts."""
    import keras

    from cosmoflow.model.power_features import load
    from cosmoflow.predict.core import network_outputs

    if input_norm != "log1p":
        raise ValueError(f"data.input_norm {input_norm!r}: this script feeds log1p inputs only")
    model = load(model_path)
    sub = keras.Model(model.input, model.get_layer("global_pool").output)
    return network_outputs(sub, np.stack([np.asarray(s[0]) for s in samples]), input_norm, 1.0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--train", required=True, help="the training split's manifest.json")
    p.add_argument("--val", required=True, help="a validation split's manifest.json")
    p.add_argument("--config", nargs="+", default=[str(split_features.ROOT / "config" / "config.yaml")])
    args = p.parse_args()

    from cosmoflow import config as cfgmod
    from cosmoflow.data.reader import read_manifest
    from cosmoflow.ridge import fit_ridge_cv

    cfg = cfgmod.load(*args.config)
    ev = cfg["evaluate"]
    tr = split_features.load(args.train, cfg, args.model)
    va = split_features.load(args.val, cfg, args.model)
    names = read_manifest(args.val)["label_names"]
    L = len(names)
    for d in (tr, va):
        d["pooled"] = pooled_features(args.model, d["samples"], cfg["data"]["input_norm"])

    def rmse(e):
        return " / ".join(f"{v:.4f}" for v in np.sqrt((e ** 2).mean(axis=0)))

    print(f"per sample RMSE ({' / '.join(names)}): training split (in-sample) | validation split")
    print(f"{'network':40s} {rmse(tr['net'] - tr['y'])} | {rmse(va['net'] - va['y'])}")
    ns = names.index("n_s") if "n_s" in names else None
    inputs = {"summary statistics": lambda d: d["stats"],
              "pooled conv features": lambda d: d["pooled"],
              "pooled conv features + statistics": lambda d: np.hstack([d["pooled"], d["stats"]]),
              "network + statistics": lambda d: np.hstack([d["net"][:, :L], d["stats"]]),
              "network": lambda d: d["net"][:, :L]}
    for name, f in inputs.items():
        oracles = [False] + ([True] if ns is not None else [])
        for oracle in oracles:
            def feats(d):
                x = f(d)
                return np.hstack([x, d["y"][:, ns:ns + 1]]) if oracle else x
            if name == "network" and not oracle:
                continue
            ridge, _, _ = fit_ridge_cv(feats(tr), tr["y"], tr["g"], ev["ridge_alphas"], ev["cv_folds"])
            label = f"ridge on {name}" + (" + true n_s" if oracle else "")
            print(f"{label:40s} {rmse(ridge.predict(feats(tr)) - tr['y'])} | "
                  f"{rmse(ridge.predict(feats(va)) - va['y'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
