"""Evaluate stage: the trained network on the test split, beside the mean and P(k) baselines.

Writes metrics.json (per parameter: relative errors both ways, MAE, RMSE, R^2, bias, for the
network, the mean predictor and the P(k) ridge baseline), predictions.csv and the plots.
"""
from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np

from ..data import tfrecord
from ..data.reader import make_dataset, read_manifest
from ..io import atomic_path
from . import baselines, metrics, plots

log = logging.getLogger("cosmoflow.evaluate")


def iter_samples(manifest: dict):
    """Yield (counts (S,S,S,C), physical labels, sim, subvolume, z (C,)) of every sample, in file
    order."""
    import tensorflow as tf

    for f in manifest["files"]:
        path = Path(manifest["dir"]) / f["name"]
        for i, rec in enumerate(tf.data.TFRecordDataset(str(path))):
            where = f"{path}: record {i}"
            d = tfrecord.decode_example(rec.numpy(), len(manifest["label_names"]),
                                        n_channels=manifest["sample_shape"][3], where=where)
            yield tfrecord.example_counts(d, where), d["y"].astype(np.float64), d["sim"], d["subvolume"], d["z"]


def predict(model_path: str | Path, manifest_path: str | Path, input_norm: str,
            batch_size: int = 4) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Network predictions and truths (physical units) on every sample of a split."""
    import keras

    model = keras.models.load_model(model_path, compile=False)
    m = read_manifest(manifest_path)
    ds = make_dataset(m["path"], shuffle=False, augment=False, input_norm=input_norm,
                      batch_size=batch_size, with_ids=True)
    preds, trues, ids = [], [], []
    for x, y, meta in ds:
        preds.append(model(x, training=False).numpy())
        trues.append(y.numpy())
        for j in range(len(y)):
            ids.append({"sim": int(meta["sim"][j]), "subvolume": int(meta["subvolume"][j]),
                        "z": tuple(float(v) for v in meta["z"][j].numpy())})
    norm = m["label_norm"]
    return (tfrecord.denormalise_labels(np.concatenate(preds), norm),
            tfrecord.denormalise_labels(np.concatenate(trues), norm), ids)


def history_table(path: str | Path) -> dict[str, np.ndarray]:
    """The training history CSV as columns (epoch, loss, val_loss, ...)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"epoch", "loss", "val_loss"} <= set(rows[0]):
        raise ValueError(f"{path}: expected a history CSV with columns epoch, loss, val_loss")
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def run(*, model: str, test_manifest: str, train_manifest: str, history: str, voxel_files: list[str],
        power_tables: list[str], config: dict, out_dir: str) -> dict:
    """Evaluate and write every output of the stage into out_dir; returns the metrics dict."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = read_manifest(test_manifest)["label_names"]
    pred, true, ids = predict(model, test_manifest, config["data"]["input_norm"])

    vox = config["voxels"]
    side = float(config["simulation"]["box"]) * vox["subvolume"] / vox["n_voxels"]
    n_bins = int(config["evaluate"]["pk_bins"])
    train = list(iter_samples(read_manifest(train_manifest)))
    test = list(iter_samples(read_manifest(test_manifest)))
    y_train = np.array([s[1] for s in train])
    y_test = np.array([s[1] for s in test])
    ev = config["evaluate"]
    ridge, alphas, _ = baselines.fit_ridge_cv(
        baselines.pk_features([s[0] for s in train], side, n_bins), y_train,
        [s[2] for s in train], ev["ridge_alphas"], ev["cv_folds"])
    log.info("P(k) ridge penalties chosen by %d-fold leave-simulations-out CV: %s",
             ev["cv_folds"], dict(zip(names, alphas.tolist())))
    pk_pred = ridge.predict(baselines.pk_features([s[0] for s in test], side, n_bins))
    mean_pred = baselines.mean_predictor(y_train, len(y_test))
    # the network's order (reader, file order) and iter_samples' order are both file order
    def key(sim, sub, zs):
        return sim, sub, tuple(round(z, 4) for z in zs)
    order = {key(*s[2:]): i for i, s in enumerate(test)}
    idx = [order[key(d["sim"], d["subvolume"], d["z"])] for d in ids]
    if not np.allclose(y_test[idx], true, rtol=1e-6):
        raise RuntimeError(f"{test_manifest}: labels of the reader and of the records disagree")

    results = {
        "network": metrics.parameter_metrics(pred, true, names),
        "mean": metrics.parameter_metrics(mean_pred[idx], true, names),
        "pk_ridge": metrics.parameter_metrics(pk_pred[idx], true, names),
    }
    summary = {"label_names": names, "n_test": int(len(true)), "n_train": int(len(y_train)),
               "definitions": {"rel_err_true": "mean |pred - true| / |true|",
                               "rel_err_pred": "mean |pred - true| / |pred| (the paper's, VII-A)"},
               "pk_ridge_alphas": dict(zip(names, alphas.tolist())),
               "metrics": results}
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n")
    with atomic_path(out / "predictions.csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sim", "subvolume", "z"] + [f"true_{n}" for n in names] + [f"pred_{n}" for n in names]
                   + [f"pk_{n}" for n in names])
        for d, t, p, b in zip(ids, true, pred, pk_pred[idx]):
            w.writerow([d["sim"], d["subvolume"], " ".join(f"{z:.4g}" for z in d["z"]), *t, *p, *b])

    plots.loss_curves(history_table(history), out / "loss.png")
    plots.predicted_vs_true(pred, true, names, out / "pred_vs_true.png", baseline=pk_pred[idx])
    plots.error_histograms(pred, true, names, out / "errors.png")
    ex = test[:4]
    plots.example_subvolumes([s[0] for s in ex], [dict(zip(names, s[1])) for s in ex], out / "examples.png",
                             redshifts=test[0][4])
    power_plots(voxel_files, power_tables, config, out)
    log.info("\n%s", metrics.format_table(results, names))
    return summary


def power_plots(voxel_files: list[str], power_tables: list[str], config: dict, out: Path) -> None:
    """One P(k) plot per redshift: simulations' full-box voxel P(k) vs P_lin(k) D(a)^2."""
    from pycola_wrapper.power import PowerTable
    from ..data.voxels import read_voxels

    tables = {Path(p).stem: PowerTable.load(p) for p in power_tables}
    by_z: dict[float, list] = {}
    for path in voxel_files:
        counts, attrs = read_voxels(path)
        sim = str(attrs["sim"]).zfill(5)
        z = float(attrs["z"])
        side = float(attrs.get("box", config["simulation"]["box"]))
        k, pk = baselines.shell_power(counts, side, int(config["evaluate"]["pk_bins"]))
        table = tables[sim]
        keep = (k < 0.5 * np.pi * counts.shape[0] / side) & (k >= table.k[0])
        lin = table.P(k[keep]) * table.growth(1.0 / (1.0 + z)) ** 2
        by_z.setdefault(z, []).append((k[keep], pk[keep], lin))
    for z, curves in sorted(by_z.items()):
        plots.power_vs_linear(curves, z, out / f"pk_z{z:.2f}.png")
