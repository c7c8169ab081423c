"""How much the sample's P(k) and summary statistics add to a trained network, measured on a
validation split (never the test split).

Fits, on the training split, the evaluate stage's P(k) ridge (log P(k) of every channel, penalty
by grouped CV) and a ridge on [network prediction, log P(k)] (the network's predictions on its
own training samples as inputs); prints the per-sample RMSE (physical units) on the validation
split of the network, the ridge, their average with weight w on the network, the stack, both
ridges with the sample's log mean count per channel added, the same two ridges on the summary
baseline's features (log P(k) + the one-point distribution of every channel: the evaluate
stage's summary_ridge and network_stats), and the error correlations (network with ridge per
label; sigma_8 with n_s per estimator). docs/model.md, "What the network and the P(k) share on
sigma_8" and "The strongest baseline".

    python experiments/stack_pk.py --model results/train/model.keras \\
        --train results/tfrecords/train/manifest.json --val results/tfrecords/val/manifest.json
"""
from __future__ import annotations

import json
import sys

import numpy as np

import split_features


def main() -> int:
    args = split_features.arguments(__doc__)

    from cosmoflow import config as cfgmod
    from cosmoflow.data.reader import read_manifest
    from cosmoflow.evaluate import baselines

    cfg = cfgmod.load(*args.config)
    ev = cfg["evaluate"]

    def split(manifest):
        d = split_features.load(manifest, cfg, args.model)
        mean = np.log([np.asarray(s[0], np.float64).mean(axis=(0, 1, 2)) for s in d["samples"]])
        return d["net"], d["y"], d["pk"], mean, d["g"], d["stats"]

    p_tr, y_tr, pk_tr, mean_tr, g_tr, st_tr = split(args.train)
    p_va, y_va, pk_va, mean_va, _, st_va = split(args.val)
    names = read_manifest(args.val)["label_names"]
    ridge, _, _ = baselines.fit_ridge_cv(pk_tr, y_tr, g_tr, ev["ridge_alphas"], ev["cv_folds"])
    r_va = ridge.predict(pk_va)
    stack, _, _ = baselines.fit_ridge_cv(np.hstack([p_tr, pk_tr]), y_tr, g_tr, ev["ridge_alphas"],
                                         ev["cv_folds"])
    s_va = stack.predict(np.hstack([p_va, pk_va]))

    with_mean, _, _ = baselines.fit_ridge_cv(np.hstack([pk_tr, mean_tr]), y_tr, g_tr,
                                             ev["ridge_alphas"], ev["cv_folds"])
    m_va = with_mean.predict(np.hstack([pk_va, mean_va]))
    stack_mean, _, _ = baselines.fit_ridge_cv(np.hstack([p_tr, pk_tr, mean_tr]), y_tr, g_tr,
                                              ev["ridge_alphas"], ev["cv_folds"])
    sm_va = stack_mean.predict(np.hstack([p_va, pk_va, mean_va]))
    stats_ridge, _, _ = baselines.fit_ridge_cv(st_tr, y_tr, g_tr, ev["ridge_alphas"], ev["cv_folds"])
    stats_stack, _, _ = baselines.fit_ridge_cv(np.hstack([p_tr, st_tr]), y_tr, g_tr, ev["ridge_alphas"],
                                               ev["cv_folds"])

    def rmse(x):
        return dict(zip(names, np.round(np.sqrt(((x - y_va) ** 2).mean(0)), 5).tolist()))

    rows = {"network": rmse(p_va), "pk_ridge": rmse(r_va), "stack": rmse(s_va),
            "pk_ridge + log mean count": rmse(m_va), "stack + log mean count": rmse(sm_va),
            "summary statistics ridge": rmse(stats_ridge.predict(st_va)),
            "stack on [network, summary statistics]": rmse(stats_stack.predict(np.hstack([p_va, st_va])))}
    for w in (0.25, 0.5, 0.75):
        rows[f"average w={w}"] = rmse(w * p_va + (1 - w) * r_va)
    err_n, err_r = p_va - y_va, r_va - y_va
    rows["error correlation network/ridge"] = dict(zip(names, np.round(
        [np.corrcoef(err_n[:, j], err_r[:, j])[0, 1] for j in range(len(names))], 3).tolist()))
    if "sigma_8" in names and "n_s" in names:    # does the amplitude's error follow the tilt's?
        i, j = names.index("sigma_8"), names.index("n_s")
        rows["error correlation sigma_8/n_s"] = {
            k: round(float(np.corrcoef(e[:, i], e[:, j])[0, 1]), 3)
            for k, e in (("network", err_n), ("pk_ridge", err_r), ("stack", s_va - y_va))}
    for k, v in rows.items():
        print(json.dumps({k: v}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
