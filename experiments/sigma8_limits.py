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

import numpy as np

import split_features


def pooled_features(model, samples: list, input_norm: str) -> np.ndarray:
    """The ``global_pool`` layer's output (n, F) of the loaded network on the samples' counts."""
    import keras

    from cosmoflow.predict.core import network_outputs

    if input_norm != "log1p":
        raise ValueError(f"data.input_norm {input_norm!r}: this script feeds log1p inputs only")
    sub = keras.Model(model.input, model.get_layer("global_pool").output)
    return network_outputs(sub, np.stack([np.asarray(s[0]) for s in samples]), input_norm, 1.0)


def main() -> int:
    args = split_features.arguments(__doc__)

    from cosmoflow import config as cfgmod
    from cosmoflow.data.reader import read_manifest
    from cosmoflow.model.power_features import load
    from cosmoflow.ridge import fit_ridge_cv

    cfg = cfgmod.load(*args.config)
    ev = cfg["evaluate"]
    tr = split_features.load(args.train, cfg, args.model)
    va = split_features.load(args.val, cfg, args.model)
    names = read_manifest(args.val)["label_names"]
    L = len(names)
    model = load(args.model)
    for d in (tr, va):
        d["pooled"] = pooled_features(model, d["samples"], cfg["data"]["input_norm"])

    def rmse(e):
        return " / ".join(f"{v:.4f}" for v in np.sqrt((e ** 2).mean(axis=0)))

    print(f"per sample RMSE ({' / '.join(names)}): training split (in-sample) | validation split")
    print(f"{'network':40s} {rmse(tr['net'] - tr['y'])} | {rmse(va['net'] - va['y'])}")
    inputs = {"summary statistics": lambda d: d["stats"],
              "pooled conv features": lambda d: d["pooled"],
              "pooled conv features + statistics": lambda d: np.hstack([d["pooled"], d["stats"]]),
              "network + statistics": lambda d: np.hstack([d["net"][:, :L], d["stats"]])}
    rows = [(name, f) for name, f in inputs.items()]
    if "n_s" in names:   # the oracles: each input and the true n_s
        ns = names.index("n_s")
        inputs["network"] = lambda d: d["net"][:, :L]
        rows += [(f"{name} + true n_s", lambda d, f=f: np.hstack([f(d), d["y"][:, ns:ns + 1]]))
                 for name, f in inputs.items()]
    for name, feats in rows:
        ridge, _, _ = fit_ridge_cv(feats(tr), tr["y"], tr["g"], ev["ridge_alphas"], ev["cv_folds"])
        print(f"{'ridge on ' + name:40s} {rmse(ridge.predict(feats(tr)) - tr['y'])} | "
              f"{rmse(ridge.predict(feats(va)) - va['y'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
