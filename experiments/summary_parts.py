"""Which summary statistics carry what: a ridge (the evaluate stage's, penalty per parameter by
grouped CV on the training split) on parts of the summary baselines' features, scored per
sample on a validation split (never the test split). docs/model.md, "The strongest baseline".

    python experiments/summary_parts.py --train results/tfrecords/train/manifest.json \\
        --val results/tfrecords/val/manifest.json
"""
from __future__ import annotations

import json
import sys

import numpy as np

import split_features

ONE_POINT = ["mean", "variance", "skewness", "kurtosis"]  # then the quantiles, then the empty fraction


def main() -> int:
    args = split_features.arguments(__doc__, model=False)

    from cosmoflow import config as cfgmod
    from cosmoflow.data.reader import read_manifest
    from cosmoflow.evaluate import baselines

    cfg = cfgmod.load(*args.config)
    ev = cfg["evaluate"]
    n_bins, quantiles = int(ev["pk_bins"]), ev["summary"]["quantiles"]
    tr, va = split_features.load(args.train, cfg), split_features.load(args.val, cfg)
    x_tr, y_tr, g_tr, x_va, y_va = tr["stats"], tr["y"], tr["g"], va["stats"], va["y"]
    z = tr["samples"][0][4]
    n_ch = len(z)
    per = len(ONE_POINT) + len(quantiles) + 1
    pk_cols = np.arange(n_ch * n_bins)

    def one_point(channels, stats=None):
        """Columns of the one-point features of these channels (these statistics only)."""
        names = ONE_POINT + [f"q{q}" for q in quantiles] + ["empty"]
        keep = [i for i, n in enumerate(names) if stats is None or n in stats]
        return np.array([n_ch * n_bins + c * per + i for c in channels for i in keep])

    every = list(range(n_ch))
    parts = {"log P(k), every channel (the P(k) ridge)": pk_cols,
             "one-point, every channel": one_point(every),
             "one-point mean + variance, every channel": one_point(every, {"mean", "variance"}),
             **{f"one-point, z = {z[c]:g} only": one_point([c]) for c in every},
             "log P(k) + one-point, every channel (the summary ridge)": np.arange(x_tr.shape[1])}
    names = read_manifest(args.val)["label_names"]
    for name, cols in parts.items():
        model, _, _ = baselines.fit_ridge_cv(x_tr[:, cols], y_tr, g_tr, ev["ridge_alphas"], ev["cv_folds"])
        err = np.sqrt(((model.predict(x_va[:, cols]) - y_va) ** 2).mean(0))
        print(json.dumps({name: dict(zip(names, np.round(err, 5).tolist()))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
