"""Per-simulation estimators built from a trained network and the samples' summary statistics,
scored on a validation split (never the test split): what chose `network_box`'s inputs
(docs/model.md, "The strongest baseline").

Every ridge is fitted on the training split (penalty per parameter by grouped CV, as the
evaluate stage's); prints the RMSE per simulation (physical units) of the means of the
network, the summary-statistics ridge and the network + statistics ridge over a simulation's
samples, and of ridges on the whole box's band powers with the network's mean, the samples'
mean statistics or the summary ridge's mean.

    python experiments/simulation_candidates.py --model results/train/model.keras \\
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
    from cosmoflow.evaluate import baselines, bootstrap
    from cosmoflow.evaluate import simulation_level as sl

    cfg = cfgmod.load(*args.config)
    ev = cfg["evaluate"]
    box = float(cfg["simulation"]["box"])
    alphas, folds = ev["ridge_alphas"], ev["cv_folds"]

    def split(manifest):
        d = split_features.load(manifest, cfg, args.model)
        boxes, box_labels = sl.assemble_boxes(d["samples"])
        sims = sorted(boxes)
        return {**d, "box": np.stack([sl.box_features(boxes[s], box) for s in sims]),
                "Y": np.stack([box_labels[s] for s in sims]), "sims": sims}

    tr, va = split(args.train), split(args.val)
    per_sample = {
        "summary_ridge": baselines.fit_ridge_cv(tr["stats"], tr["y"], tr["g"], alphas, folds)[0],
        "network_stats": baselines.fit_ridge_cv(np.hstack([tr["net"], tr["stats"]]), tr["y"], tr["g"],
                                                alphas, folds)[0]}

    def means(d):
        """Per-simulation means (sorted simulations) of the network, the statistics and the
        per-sample ridges' predictions."""
        x = {"network": d["net"], "stats": d["stats"],
             "summary_ridge": per_sample["summary_ridge"].predict(d["stats"]),
             "network_stats": per_sample["network_stats"].predict(np.hstack([d["net"], d["stats"]]))}
        return {k: bootstrap.simulation_means(v, d["y"], d["g"])[0] for k, v in x.items()}

    m_tr, m_va = means(tr), means(va)
    names = read_manifest(args.val)["label_names"]

    def rmse(pred):
        return dict(zip(names, np.round(np.sqrt(((pred - va["Y"]) ** 2).mean(0)), 5).tolist()))

    rows = {f"{k} (mean of samples)": rmse(m_va[k]) for k in ("network", "summary_ridge", "network_stats")}
    candidates = {"[box]": ["box"], "[box, mean stats]": ["box", "stats"],
                  "[network mean, box]": ["network", "box"],
                  "[network mean, box, mean stats]": ["network", "box", "stats"],
                  "[network mean, box, summary ridge's mean]": ["network", "box", "summary_ridge"]}
    for name, parts in candidates.items():
        def x(d, m):
            return np.hstack([d["box"] if k == "box" else m[k] for k in parts])
        model, chosen, _ = baselines.fit_ridge_cv(x(tr, m_tr), tr["Y"], tr["sims"], alphas, folds)
        rows[f"ridge on {name}"] = rmse(model.predict(x(va, m_va)))
    for k, v in rows.items():
        print(json.dumps({k: v}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
