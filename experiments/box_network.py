"""A network that reads each simulation's whole box, against the per-simulation baselines, on a
validation split (never the test split): docs/model.md, "The whole box as the sample".

The whole-box network is trained by experiments/ablate.py on records whose one sample per
simulation is the whole box (coarser voxels: experiments/derive_voxels.py --rebin 2
--subvolume 64). Its estimate per validation simulation is compared with the per-simulation
baselines of the 2 Mpc/h sub-volume records of the same simulations, every ridge fitted on the
training split (penalties per parameter by grouped CV, as evaluate's): the summary ridge's mean
over a simulation's samples, the whole box's band-power ridge, the band powers + mean statistics
ridge (``box_stats_ridge``), and the summary ridge on the whole coarse box's own statistics.
Prints RMSE per simulation (physical units) and the paired bootstrap over validation
simulations, P(whole-box network better), for each; last, the band powers + mean statistics
ridge with the whole-box network's estimate as one more input, against the ridge without it.

    python experiments/box_network.py --model <box model.keras> \\
        --box-train <box records>/train/manifest.json --box-val <box records>/val/manifest.json \\
        --train results/tfrecords/train/manifest.json --val results/tfrecords/val/manifest.json \\
        --config config/config.yaml config/workstation.yaml
"""
from __future__ import annotations

import json
import sys

import numpy as np

import split_features


def _box_options(p) -> None:
    p.add_argument("--box-train", required=True, help="the whole-box records' training manifest")
    p.add_argument("--box-val", required=True, help="the whole-box records' validation manifest")
    p.add_argument("--resamples", type=int, default=2000)


def main() -> int:
    # --model: the whole-box network; --train / --val: the sub-volume records' manifests
    args = split_features.arguments(__doc__, extra=_box_options)

    from cosmoflow import config as cfgmod
    from cosmoflow.data.reader import read_manifest
    from cosmoflow.evaluate import baselines, bootstrap
    from cosmoflow.evaluate import simulation_level as sl

    cfg = cfgmod.load(*args.config)
    ev = cfg["evaluate"]
    side = float(cfg["simulation"]["box"])
    alphas, folds = ev["ridge_alphas"], ev["cv_folds"]

    def sub_split(manifest):
        d = split_features.load(manifest, cfg)
        boxes, labels = sl.assemble_boxes(d["samples"])
        sims = sorted(boxes)
        return {**d, "sims": sims, "box": np.stack([sl.box_features(boxes[s], side) for s in sims]),
                "Y": np.stack([labels[s] for s in sims])}

    whole = json.loads(json.dumps(cfg))          # the box records: one sample = the whole box
    n_box = int(read_manifest(args.box_val)["sample_shape"][0])
    whole["voxels"].update(n_voxels=n_box, subvolume=n_box)

    def box_split(manifest, model=None):
        d = split_features.load(manifest, whole, model)
        order = np.argsort(d["g"])
        return {k: (v[order] if isinstance(v, np.ndarray) else v) for k, v in d.items()}

    tr, va = sub_split(args.train), sub_split(args.val)
    btr, bva = box_split(args.box_train, args.model), box_split(args.box_val, args.model)
    if list(bva["g"]) != list(va["sims"]) or list(btr["g"]) != list(tr["sims"]):
        raise ValueError("the box records and the sub-volume records hold different simulations")
    if not np.allclose(bva["y"], va["Y"]):
        raise ValueError("the box records' labels differ from the sub-volume records'")

    ridge = baselines.fit_ridge_cv(tr["stats"], tr["y"], tr["g"], alphas, folds)[0]

    def stats_mean(d):
        return bootstrap.simulation_means(d["stats"], d["y"], d["g"])[0]

    def fit_predict(x_tr, y_tr, g_tr, x_va):
        return baselines.fit_ridge_cv(x_tr, y_tr, g_tr, alphas, folds)[0].predict(x_va)

    preds = {
        "whole-box network": bva["net"],
        "summary ridge, mean of sub-volumes": bootstrap.simulation_means(
            ridge.predict(va["stats"]), va["y"], va["g"])[0],
        "box band-power ridge": fit_predict(tr["box"], tr["Y"], tr["sims"], va["box"]),
        "box band powers + mean statistics ridge": fit_predict(
            np.hstack([tr["box"], stats_mean(tr)]), tr["Y"], tr["sims"],
            np.hstack([va["box"], stats_mean(va)])),
        "summary ridge on the coarse whole box": fit_predict(btr["stats"], btr["y"], btr["g"],
                                                             bva["stats"]),
    }
    # the whole-box network's estimate as one more input of the strongest per-simulation ridge
    # (its estimates on the training boxes, as network_box uses the network's)
    combined = fit_predict(np.hstack([tr["box"], stats_mean(tr), btr["net"]]), tr["Y"], tr["sims"],
                           np.hstack([va["box"], stats_mean(va), bva["net"]]))
    names = read_manifest(args.val)["label_names"]
    weights = bootstrap.resample_weights(len(va["sims"]), args.resamples, seed=0)

    def row(pred, against=None):
        """RMSE per label and, given ``against``, P(pred better than it) by the paired bootstrap."""
        out = {"rmse": dict(zip(names, np.round(np.sqrt(((pred - va["Y"]) ** 2).mean(0)), 5).tolist()))}
        if against is not None:
            cmp = bootstrap.paired_rmse_difference(pred, against, va["Y"], va["sims"], names,
                                                   weights, 0.95)
            out["P(better)"] = {n: round(c["frac_below_zero"], 3) for n, c in cmp.items()}
        return out

    net = preds.pop("whole-box network")
    print(json.dumps({"whole-box network": row(net)}))
    for name, pred in preds.items():    # P(better): the whole-box network's against this one
        print(json.dumps({name: {"rmse": row(pred)["rmse"], "P(network better)": row(net, pred)["P(better)"]}}))
    print(json.dumps({"box band powers + mean statistics + whole-box network, ridge (P(better): "
                      "than the ridge without the network)":
                      row(combined, preds["box band powers + mean statistics ridge"])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
