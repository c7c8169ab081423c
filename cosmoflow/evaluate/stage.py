"""Evaluate stage: the trained network on the test split, beside four baselines (the mean
predictor, the P(k) ridge, the summary statistics by trees and by a ridge).

Writes metrics.json: per predictor and parameter, relative errors both ways, MAE, RMSE, R^2,
R^2 against the prior, bias, each with a bootstrap interval over test simulations, and the
reference's paired comparison with every other predictor (see
:mod:`cosmoflow.evaluate.bootstrap`), at four levels: per sample (the network alone), sample
level (the network + its sample's summary statistics,
:mod:`cosmoflow.evaluate.sample_level`), per simulation
(sample means) and simulation level (the network + whole-box band powers and mean statistics,
:mod:`cosmoflow.evaluate.simulation_level`); predictions.csv and predictions_simulation.csv;
combinations.json (the two combinations' fitted ridges, which predict applies:
:mod:`cosmoflow.evaluate.combinations`); the plots.
"""
from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path

import numpy as np

from ..data import tfrecord
from ..data.reader import make_dataset, read_manifest
from ..io import atomic_path
from ..mmap_threshold import restore_mmap_threshold
from ..model import heads
from . import baselines, bootstrap, calibration, combinations, metrics, plots, sample_level, summaries

log = logging.getLogger("cosmoflow.evaluate")

SUMMARY = "summary"  # the summary-statistics baselines' names in metrics.json and predictions.csv:
SUMMARY_RIDGE = "summary_ridge"  # gradient-boosted trees, and a ridge on the same features
TABLE_COLUMNS = ("rel_err_pred", "rmse", "r2", "r2_prior")  # the logged tables' metrics


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


def network_outputs(model_path: str | Path, manifest_path: str | Path, input_norm: str,
                    batch_size: int = 4) -> tuple[np.ndarray, np.ndarray, list[dict], dict]:
    """The network's raw outputs on every sample of a split (normalised label units), the
    normalised truths, the samples' ids and the manifest's ``label_norm``."""
    from cosmoflow.model.power_features import load

    model = load(model_path)
    m = read_manifest(manifest_path)
    ds = make_dataset(m["path"], shuffle=False, augment=False, input_norm=input_norm,
                      batch_size=batch_size, with_ids=True)
    outs, trues, ids = [], [], []
    for x, y, meta in ds:
        outs.append(model(x, training=False).numpy())
        trues.append(y.numpy())
        for j in range(len(y)):
            ids.append({"sim": int(meta["sim"][j]), "subvolume": int(meta["subvolume"][j]),
                        "z": tuple(float(v) for v in meta["z"][j].numpy())})
    restore_mmap_threshold()  # the reader's kernels lowered it; the numpy features run after
    return np.concatenate(outs), np.concatenate(trues), ids, m["label_norm"]


def predict(model_path: str | Path, manifest_path: str | Path, input_norm: str,
            batch_size: int = 4) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Network predictions (the means, for a gaussian head) and truths (physical units) on every
    sample of a split."""
    mu, _, true, ids = predict_with_widths(model_path, manifest_path, input_norm, batch_size)
    return mu, true, ids


def predict_with_widths(model_path: str | Path, manifest_path: str | Path, input_norm: str,
                        batch_size: int = 4):
    """(means, widths or None, truths, ids) in physical units; widths (uncalibrated standard
    deviations) only for a model with a gaussian head."""
    out, true, ids, norm = network_outputs(model_path, manifest_path, input_norm, batch_size)
    mu, sd = heads.estimates(out, norm, true.shape[1])
    return mu, sd, tfrecord.denormalise_labels(true, norm), ids


def history_table(path: str | Path) -> dict[str, np.ndarray]:
    """The training history CSV as columns (epoch, loss, val_loss, ...)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"epoch", "loss", "val_loss"} <= set(rows[0]):
        raise ValueError(f"{path}: expected a history CSV with columns epoch, loss, val_loss")
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def run(*, model: str, test_manifest: str, train_manifest: str, history: str, voxel_files: list[str],
        power_tables: list[str], config: dict, out_dir: str,
        calibration_manifest: str | None = None) -> dict:
    """Evaluate and write every output of the stage into out_dir; returns the metrics dict.

    calibration_manifest : the split a gaussian head's widths are calibrated on
        (cosmoflow.evaluate.calibration): the calibration split (sims.n_cal), or validation
        when there is none; needed (and only read) for a gaussian head.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    test_m = read_manifest(test_manifest)
    names = test_m["label_names"]
    pred, sd, true, ids = predict_with_widths(model, test_manifest, config["data"]["input_norm"])

    vox = config["voxels"]
    side = float(config["simulation"]["box"]) * vox["subvolume"] / vox["n_voxels"]
    ev = config["evaluate"]
    n_bins = int(ev["pk_bins"])
    train = list(iter_samples(read_manifest(train_manifest)))
    test = list(iter_samples(test_m))
    y_train = np.array([s[1] for s in train])
    y_test = np.array([s[1] for s in test])
    sims_train = [s[2] for s in train]
    pk_train = baselines.pk_features([s[0] for s in train], side, n_bins)
    pk_test = baselines.pk_features([s[0] for s in test], side, n_bins)
    ridge, alphas, _ = baselines.fit_ridge_cv(pk_train, y_train, sims_train, ev["ridge_alphas"], ev["cv_folds"])
    log.info("P(k) ridge penalties chosen by %d-fold leave-simulations-out CV: %s",
             ev["cv_folds"], dict(zip(names, alphas.tolist())))
    pk_pred = ridge.predict(pk_test)
    mean_pred = baselines.mean_predictor(y_train, len(y_test))
    quantiles = ev["summary"]["quantiles"]
    sf_train = summaries.summary_features([s[0] for s in train], side, n_bins, quantiles, pk=pk_train)
    sf_test = summaries.summary_features([s[0] for s in test], side, n_bins, quantiles, pk=pk_test)
    summary_pred, summary_params = summary_baseline(sf_train, sf_test, y_train, sims_train, config)
    sridge, sridge_alphas, _ = baselines.fit_ridge_cv(sf_train, y_train, sims_train, ev["ridge_alphas"],
                                                      ev["cv_folds"])
    log.info("summary-statistics ridge penalties chosen by %d-fold leave-simulations-out CV: %s",
             ev["cv_folds"], dict(zip(names, sridge_alphas.tolist())))

    idx = sample_order(test, ids, y_test, true, test_manifest)
    # the network's predictions on its own training samples, in iter_samples order: what the
    # network + statistics (per sample) and network + box (per simulation) ridges are fitted to
    pred_tr, true_tr, ids_tr = predict(model, train_manifest, config["data"]["input_norm"])
    net_train = np.empty_like(pred_tr)
    net_train[sample_order(train, ids_tr, y_train, true_tr, train_manifest)] = pred_tr
    network_stats, stats_alphas, stats_model = sample_level.network_stats_estimates(
        net_train, sf_train, y_train, sims_train, pred, sf_test[idx], ev["ridge_alphas"], ev["cv_folds"])

    preds = {"network": pred, "mean": mean_pred[idx], "pk_ridge": pk_pred[idx], SUMMARY: summary_pred[idx],
             SUMMARY_RIDGE: sridge.predict(sf_test)[idx]}
    groups = np.array([d["sim"] for d in ids])
    n_test_sims = len(np.unique(groups))
    # the same resamples of test simulations for every level: per sample; per simulation (the
    # predictors' simulation means beside the whole-box baseline); the network + box estimator
    w = bootstrap.resample_weights(n_test_sims, int(ev["n_bootstrap"]), int(ev["bootstrap_seed"]))
    kw = dict(weights=w, confidence=float(ev["confidence"]),
              prior_sd=bootstrap.sd_prior(test_m["label_norm"], names))
    sim_level = simulation_level_estimates(net_train, train, test, preds, true, groups, config,
                                           stats_train=sf_train, stats_test=sf_test)
    per_sim = {k: v for k, v in sim_level["predictions"].items() if k != "network_box"}
    judged = {
        "per_sample": bootstrap.judge(preds, true, groups, names, **kw),
        "sample_level": bootstrap.judge({"network_stats": network_stats, **preds}, true, groups, names,
                                        reference="network_stats", **kw),
        "per_simulation": bootstrap.judge(per_sim, sim_level["true"], sim_level["sims"], names, **kw),
        "simulation_level": bootstrap.judge(sim_level["predictions"], sim_level["true"],
                                            sim_level["sims"], names, reference="network_box", **kw)}
    notes = []
    if n_test_sims < int(ev["min_test_sims"]):
        notes.append(f"few test simulations ({n_test_sims} < evaluate.min_test_sims = "
                     f"{ev['min_test_sims']}): intervals are wide, and percentile intervals over so "
                     "few simulations run short (measured coverage 0.84 of 95 % with 8-10) and "
                     "'beats' is liberal (12 % false calls instead of 5 % with 8)")
    report = finite_or_null({
        "label_names": names, "n_test": int(len(true)), "n_train": int(len(y_train)),
        "n_test_sims": n_test_sims, "n_train_sims": int(len(set(sims_train))),
        "definitions": definitions(ev),
        "bootstrap": {"unit": "test simulation", "n_resamples": int(ev["n_bootstrap"]),
                      "seed": int(ev["bootstrap_seed"]), "confidence": float(ev["confidence"]),
                      "interval": "percentile"},
        "sd_prior": dict(zip(names, bootstrap.sd_prior(test_m["label_norm"], names).tolist())),
        "warnings": notes,
        "pk_ridge_alphas": dict(zip(names, alphas.tolist())),
        "summary_params": dict(zip(names, summary_params)),
        "summary_ridge_alphas": dict(zip(names, sridge_alphas.tolist())),
        "sample_level_alphas": {"network_stats": dict(zip(names, stats_alphas.tolist()))},
        "simulation_level_alphas": {k: dict(zip(names, v)) for k, v in sim_level["alphas"].items()},
        **judged})
    widths = None
    if sd is not None:
        if calibration_manifest is None:
            raise ValueError(f"{model}: the network has a gaussian head; its widths are calibrated "
                             "on a split of their own (calibration, else validation): give "
                             "calibration_manifest (--calibration-manifest)")
        widths = uncertainty(model, calibration_manifest, pred, sd, true, groups, names, config, kw)
        report["uncertainty"] = finite_or_null(widths["report"])
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    with atomic_path(out / "combinations.json") as tmp:   # for predict (--combinations)
        combinations.save(tmp, combinations.Combinations(
            label_names=names, sample_side=side, box_side=float(config["simulation"]["box"]),
            box_voxels=int(vox["n_voxels"]), pk_bins=n_bins, quantiles=tuple(quantiles),
            model_sha256=tfrecord.sha256_file(model), network_stats=stats_model,
            network_box=sim_level["models"]["network_box"]))
    with atomic_path(out / "predictions.csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sim", "subvolume", "z"] + [f"true_{n}" for n in names] + [f"pred_{n}" for n in names]
                   + [f"pk_{n}" for n in names] + [f"{SUMMARY}_{n}" for n in names]
                   + [f"{SUMMARY_RIDGE}_{n}" for n in names] + [f"network_stats_{n}" for n in names]
                   + ([] if widths is None else [f"sd_{n}" for n in names]))
        sd_rows = widths["sd_sample"] if widths else [()] * len(ids)
        for row in zip(ids, true, pred, preds["pk_ridge"], preds[SUMMARY], preds[SUMMARY_RIDGE],
                       network_stats, sd_rows):
            d = row[0]
            w.writerow([d["sim"], d["subvolume"], " ".join(f"{z:.4g}" for z in d["z"])]
                       + [v for values in row[1:] for v in values])

    with atomic_path(out / "predictions_simulation.csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        est = dict(sim_level["predictions"])
        if widths is not None:   # the precision-weighted combination and its calibrated width
            if list(widths["sims"]) != list(sim_level["sims"]):
                raise RuntimeError("test simulations differ between the widths and the estimates")
            est.update(gaussian=widths["mu_sim"], gaussian_sd=widths["sd_sim"])
        w.writerow(["sim"] + [f"true_{n}" for n in names] + [f"{e}_{n}" for e in est for n in names])
        for i, sim in enumerate(sim_level["sims"]):
            w.writerow([sim, *sim_level["true"][i], *[v for e in est for v in est[e][i]]])

    best = judged["per_sample"]["best_baseline"]
    res = judged["per_sample"]["metrics"]
    plots.loss_curves(history_table(history), out / "loss.png")
    plots.predicted_vs_true(
        pred, true, names, out / "pred_vs_true.png",
        baseline=np.stack([preds[best[n]["baseline"]][:, j] for j, n in enumerate(names)], axis=1),
        baseline_labels=[best[n]["baseline"] for n in names],
        rmse={p: {n: (res[p][n]["rmse"], res[p][n]["interval"]["rmse"]) for n in names} for p in res})
    plots.error_histograms(pred, true, names, out / "errors.png")
    if widths is not None:
        plots.calibration_curves(widths["report"], names, out / "calibration.png")
    ex = test[:4]
    plots.example_subvolumes([s[0] for s in ex], [dict(zip(names, s[1])) for s in ex], out / "examples.png",
                             redshifts=test[0][4])
    power_plots(voxel_files, power_tables, config, out)
    for note in notes:
        log.warning("%s", note)
    for level in ("per_sample", "sample_level", "per_simulation", "simulation_level"):
        log.info("%s, %.0f %% intervals over %d test simulations:\n%s\n%s", level,
                 100 * float(ev["confidence"]), n_test_sims,
                 metrics.format_table(judged[level]["metrics"], names, TABLE_COLUMNS),
                 comparison_table(judged[level], names))
    return report


def sample_order(samples: list, ids: list[dict], labels: np.ndarray, reader_labels: np.ndarray,
                 where) -> list[int]:
    """Index into ``samples`` (iter_samples order) of each of the reader's samples ``ids``
    (both are file order; matched by simulation, sub-volume and redshifts). Raises RuntimeError
    naming ``where`` if the labels of the two disagree."""
    def key(sim, sub, zs):
        return sim, sub, tuple(round(z, 4) for z in zs)
    order = {key(*s[2:]): i for i, s in enumerate(samples)}
    idx = [order[key(d["sim"], d["subvolume"], d["z"])] for d in ids]
    if not np.allclose(labels[idx], reader_labels, rtol=1e-6):
        raise RuntimeError(f"{where}: labels of the reader and of the records disagree")
    return idx


def simulation_level_estimates(net_train: np.ndarray, train: list, test: list, preds: dict,
                               true: np.ndarray, groups: np.ndarray, config: dict, *,
                               stats_train: np.ndarray, stats_test: np.ndarray) -> dict:
    """Per-simulation predictions of every estimator on the test simulations (sorted):
    the means of the per-sample predictors' sub-volume predictions, the whole-box P(k) ridge,
    the whole-box band powers + mean statistics ridge and the network + box estimator
    (cosmoflow.evaluate.simulation_level; the network's predictions on the training split,
    ``net_train`` (n_train, L) in ``train``'s order, are what its ridge is fitted to).
    stats_* : (n, F) the samples' summary statistics in ``train`` / ``test`` order.

    Returns {"sims", "true" (n, L), "predictions": {estimator: (n, L)}, "alphas", "models"
    (the fitted simulation-level ridges)}.
    """
    from cosmoflow.evaluate import simulation_level as sl

    means = {p: bootstrap.simulation_means(v, true, groups) for p, v in preds.items()}
    sims = list(next(iter(means.values()))[2])
    true_sim = next(iter(means.values()))[1]
    y_tr, g_tr = np.array([s[1] for s in train]), [s[2] for s in train]
    net_tr, _, sims_tr = bootstrap.simulation_means(net_train, y_tr, g_tr)
    st_tr, _, _ = bootstrap.simulation_means(stats_train, y_tr, g_tr)
    st_te, _, _ = bootstrap.simulation_means(stats_test, np.array([s[1] for s in test]),
                                             [s[2] for s in test])
    train_boxes, train_labels = sl.assemble_boxes(train)
    test_boxes, _ = sl.assemble_boxes(test)
    est = sl.simulation_estimates(
        train_boxes, train_labels, dict(zip(sims_tr, net_tr)), test_boxes,
        dict(zip(sims, means["network"][0])), float(config["simulation"]["box"]),
        config["evaluate"]["ridge_alphas"], int(config["evaluate"]["cv_folds"]),
        train_stats=dict(zip(sims_tr, st_tr)), test_stats=dict(zip(sims, st_te)))
    if est["sims"] != sims:   # both sorted
        raise RuntimeError(f"test simulations differ between the records and the boxes: {sims} vs {est['sims']}")
    predictions = {"network_box": est["network_box"], **{p: m[0] for p, m in means.items()},
                   "box_pk_ridge": est["box_pk_ridge"], "box_stats_ridge": est["box_stats_ridge"]}
    return {"sims": sims, "true": true_sim, "predictions": predictions, "alphas": est["alphas"],
            "models": est["models"]}


def uncertainty(model: str | Path, cal_manifest: str | Path, mu: np.ndarray, sd: np.ndarray,
                true: np.ndarray, groups: np.ndarray, names: list[str], config: dict,
                kw: dict) -> dict:
    """Calibrated widths of a gaussian head on the test split (cosmoflow.evaluate.calibration).

    mu, sd, true : (n, L) test-sample means, uncalibrated widths, truths (physical units).
    cal_manifest : the split the radii are fitted on (calibration, else validation).
    kw : the bootstrap's weights, confidence (as ``judge``).
    Returns {"report": {"per_sample", "per_simulation", "definitions"}, "sd_sample" (n, L)
    calibrated widths, "sims", "mu_sim", "sd_sim" (calibrated)}.
    """
    mu_c, sd_c, true_c, ids_c = predict_with_widths(model, cal_manifest, config["data"]["input_norm"])
    cal_split = read_manifest(cal_manifest).get("split", "val")
    sims_c = [d["sim"] for d in ids_c]
    radii = calibration.fit(mu_c, sd_c, true_c, sims_c)
    mu_s, sd_s, true_s, sims = calibration.per_simulation(mu, sd, true, groups)
    common = dict(weights=kw["weights"], confidence=kw["confidence"])
    rep = {"per_sample": calibration.report(mu, sd, true, groups, names, radii=radii["per_sample"],
                                            **common),
           "per_simulation": calibration.report(mu_s, sd_s, true_s, sims, names,
                                                radii=radii["per_simulation"], **common),
           "calibration_split": cal_split,
           "n_calibration_sims": int(len(set(sims_c))),
           "definitions": {
               "per_sample": "each test sample's mean +- radius x its width",
               "per_simulation": "precision-weighted mean of a simulation's samples +- radius x "
                                 "(sum 1 / sd_i^2)^(-1/2)",
               "scale": "the one-sigma factor on the network's widths: the 68.27 % radius",
               "radius": "half-width of the level's interval in network widths, fitted on the "
                         "calibration split (calibration_split: 'cal', simulations apart from "
                         "training and epoch selection, or 'val', the validation split): the "
                         "level's quantile of |true - mu| / sd (method quantile, split-conformal) "
                         "or z x the unit-RMS factor (method rms, where the split has too few "
                         "estimates for the quantile)",
               "coverage": "fraction of test estimates whose central interval at that level holds "
                           "the truth, with its bootstrap interval over test simulations",
               "mean_sd": "mean calibrated width (parameter units), beside the RMSE of the means",
               "curve": "empirical against nominal coverage (calibration.png)"}}
    for level in ("per_sample", "per_simulation"):
        log.info("%s calibrated widths (scale fitted on %d %s simulations): %s", level,
                 len(set(sims_c)), cal_split, {n: {"scale": round(b["scale"], 3), "mean_sd": round(b["mean_sd"], 5),
                                        "rmse": round(b["rmse"], 5),
                                        "coverage": {q: round(c["value"], 3) for q, c in b["coverage"].items()}}
                                    for n, b in rep[level].items()})
    return {"report": rep, "sd_sample": sd * radii["per_sample"][0.6827]["radius"], "sims": sims,
            "mu_sim": mu_s, "sd_sim": sd_s * radii["per_simulation"][0.6827]["radius"]}


def finite_or_null(obj):
    """The same nested dicts and lists with NaN and inf floats as None (JSON null)."""
    if isinstance(obj, dict):
        return {k: finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_null(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def summary_baseline(features_train: np.ndarray, features_test: np.ndarray, y_train: np.ndarray,
                     sims_train, config: dict) -> tuple[np.ndarray, list[dict]]:
    """Fit the summary-statistics trees on the training split, predict the test split.

    features_* : ``summaries.summary_features`` of the training and test samples.
    y_train : (n_train, n_labels) physical labels; sims_train : their simulations (CV groups).
    Returns predictions (n_test, n_labels) in the test features' order, and the
    hyper-parameters chosen per label.
    """
    ev = config["evaluate"]
    t0 = time.perf_counter()
    model, chosen, _ = summaries.fit_summary_cv(features_train, y_train, sims_train, ev["summary"],
                                                ev["cv_folds"], seed=int(config["seed"]))
    log.info("summary baseline: %d features, hyper-parameters by %d-fold leave-simulations-out CV "
             "%s (fit %.1f s)", features_train.shape[1], ev["cv_folds"], chosen,
             time.perf_counter() - t0)
    return model.predict(features_test), chosen


def definitions(ev: dict) -> dict:
    """What each metrics.json entry means (written into the file)."""
    c = float(ev["confidence"])
    return {
        "rel_err_true": "mean |pred - true| / |true|",
        "rel_err_pred": "mean |pred - true| / |pred| (the paper's, VII-A)",
        "rmse": "sqrt(mean (pred - true)^2), parameter units", "mae": "mean |pred - true|",
        "bias": "mean (pred - true)", "null": "undefined (e.g. R^2 of a single test simulation)",
        "r2": "1 - sum (pred - true)^2 / sum (true - mean true)^2 over the test samples",
        "r2_prior": "1 - rmse^2 / sd_prior^2, sd_prior = (high - low) / sqrt(12) of the uniform prior",
        "interval": f"{100 * c:g} % percentile interval over bootstrap resamples of whole test "
                    "simulations (all of a simulation's samples drawn together)",
        "per_sample": "every test sample (sub-volume) is one estimate",
        "sample_level": "every test sample is one estimate; reference network_stats",
        "network_stats": "ridge on the network's prediction plus the sample's summary statistics "
                         "(the summary baselines' features), fitted to its predictions on the "
                         "training split, penalty per parameter by grouped CV (sample_level_alphas)",
        "per_simulation": "one estimate per test simulation: the mean of its samples' predictions",
        "comparisons": "network_vs_X: diff_rmse = RMSE(network) - RMSE(X) with its interval, "
                       "frac_below_zero = fraction of resamples (the same for both) with diff < 0",
        "beats": f"frac_below_zero >= {c:g} (one-sided: the network's RMSE is below X's with "
                 f"{100 * c:g} % confidence)",
        "best_baseline": "per parameter, the baseline of lowest RMSE, and whether the network beats it",
        "mean": "training-split mean labels",
        "per_simulation": "each estimator's predictions averaged over a test simulation's samples, "
                          "beside box_pk_ridge and box_stats_ridge (whole-box estimators)",
        "simulation_level": "one estimate per test simulation from all of it; reference network_box",
        "box_pk_ridge": "ridge on the whole box's log band powers (octaves from the fundamental to "
                        "the voxel Nyquist frequency) of every channel, fitted on the training "
                        "simulations, penalty per parameter by grouped CV",
        "box_stats_ridge": "ridge on those band powers plus the mean over the simulation's "
                           "samples of their summary statistics (the summary baselines' features)",
        "network_box": "ridge on those band powers, the mean summary statistics and the network's "
                       "mean prediction over the simulation's samples (fitted to its predictions "
                       "on the training split)",
        "pk_ridge": "ridge on log P(k) of every channel, penalty per parameter by grouped CV",
        SUMMARY: "gradient-boosted trees on log P(k) + one-point moments, quantiles and empty "
                 "fraction of log(1 + counts) of every channel; hyper-parameters per parameter "
                 "by grouped CV (summary_params)",
        SUMMARY_RIDGE: "ridge on the same features (columns not finite in every training sample "
                       "left out), penalty per parameter by grouped CV (summary_ridge_alphas)",
    }


def comparison_table(block: dict, names: list[str]) -> str:
    """Text lines: the network against each baseline, per parameter."""
    lines = []
    for comp, per in block["comparisons"].items():
        for n in names:
            c = per[n]
            lines.append(f"{comp:<24}{n:<10} dRMSE {c['diff_rmse']:+.5f} "
                         f"[{c['interval'][0]:+.5f}, {c['interval'][1]:+.5f}]  "
                         f"P(d<0) {c['frac_below_zero']:.3f}  beats {c['beats']}")
    for n in names:
        b = block["best_baseline"][n]
        ref, beats = next((k[:-len("_beats")], v) for k, v in b.items() if k.endswith("_beats"))
        lines.append(f"best baseline for {n}: {b['baseline']} (RMSE {b['rmse']:.5f}); "
                     f"{ref} beats it: {beats}")
    return "\n".join(lines)


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
