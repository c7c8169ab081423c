"""``predict``: a trained run on inputs of one's own -> the predictions table.

For each input: load its grid(s) (`cosmoflow.predict.inputs`), check the geometry against the
training data (`cosmoflow.predict.geometry`), cut the pipeline's sub-volumes, run the network
in evaluate's float path (`cosmoflow.predict.core`), apply evaluate's combinations of the network
with the samples' statistics when given (`cosmoflow.evaluate.combinations`) and write one CSV
row per sample and per input (`cosmoflow.predict.table`). Layout of the table and the errors:
docs/predict.md.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path

from cosmoflow.data.tfrecord import sha256_file
from cosmoflow.evaluate import combinations as combos_io
from cosmoflow.predict import core, geometry, inputs, table, trained

log = logging.getLogger("cosmoflow.predict")

#: Default relative tolerance on the mean count per voxel (`geometry.check_mean_count`).
DENSITY_TOLERANCE = 0.2


def predict_input(model, run: trained.TrainedRun, path: str | Path,
                  options: inputs.Options = inputs.Options(), *,
                  batch_size: int = core.BATCH_SIZE,
                  density_tolerance: float = DENSITY_TOLERANCE,
                  scales: tuple | None = None,
                  combos: combos_io.Combinations | None = None) -> list[table.InputResult]:
    """Estimates of one input (one result, or one per redshift for a one-channel network
    reading a folder); ValueError naming the input when it does not fit the network.
    ``scales``: evaluate's (per-sample, per-simulation) width calibration, or None.
    ``combos``: evaluate's combinations of this network (``load_combinations``), or None."""
    out = []
    for grid in inputs.load(path, run.expected, options):
        geometry.check(grid, run.expected, density_tolerance)
        x = inputs.samples(grid, run.expected.sample_side)
        est = core.predict_samples(model, x, input_norm=run.input_norm,
                                   mean_count=run.expected.mean_count, label_norm=run.label_norm,
                                   n_labels=len(run.label_names), batch_size=batch_size)
        input_scale = 1.0
        if scales is not None and est.sd is not None:
            est.sd = est.sd * scales[0]
            # the combination of widths s0 sd_i is s0 times that of sd_i: evaluate rescales the
            # raw widths' combination by the per-simulation scale s1
            input_scale = scales[1] / scales[0]
        out.append(table.InputResult(source=grid.source, redshifts=grid.redshifts, estimates=est,
                                     input_scale=input_scale,
                                     combined=None if combos is None else combine(combos, grid, x, est)))
    return out


def combine(combos: combos_io.Combinations, grid: inputs.Grid, samples, est: core.Estimates
            ) -> table.Combined:
    """Evaluate's combinations on one input: ``network_stats`` for every sample; ``network_box``
    for the input when it is a whole box of the training geometry (else None, logged)."""
    stats = combos.sample_statistics(samples)
    per_sample = combos.per_sample(est.mean, stats)
    why_not = combos.box_fits(grid.counts.shape, grid.voxel_size, stats.shape[1])
    if why_not:
        log.warning("%s: no network_box estimate: %s", grid.source, why_not)
        return table.Combined(per_sample=per_sample, per_input=None)
    return table.Combined(per_sample=per_sample, per_input=combos.per_box(est.mean, grid.counts, stats))


def load_combinations(path: str | Path, run: trained.TrainedRun) -> combos_io.Combinations:
    """Evaluate's combinations.json of this run's network; ValueError naming the file when it
    was fitted to another network, other labels or samples of another size."""
    combos = combos_io.load(path)
    if combos.model_sha256 != sha256_file(run.model_path):
        raise ValueError(f"{path}: fitted to the estimates of another network than "
                         f"{run.model_path} (model sha256 {combos.model_sha256[:12]}...): use the "
                         "combinations.json of the evaluate stage of this run")
    if combos.label_names != run.label_names:
        raise ValueError(f"{path}: labels {combos.label_names}, the network's are {run.label_names}")
    side = run.expected.sample_side * run.expected.voxel_size
    if not math.isclose(combos.sample_side, side, rel_tol=1e-9):
        raise ValueError(f"{path}: samples of {combos.sample_side:g} Mpc/h, the network's are "
                         f"{side:g} Mpc/h")
    return combos


def run(run_path: str | Path, input_paths: list[str | Path], out: str | Path, *,
        manifest: str | Path | None = None, options: inputs.Options = inputs.Options(),
        batch_size: int = core.BATCH_SIZE,
        density_tolerance: float = DENSITY_TOLERANCE,
        calibration: str | Path | None = None,
        combinations: str | Path | None = None) -> list[table.InputResult]:
    """Predict every input with the trained run at ``run_path`` and write the table to ``out``.

    Parameters
    ----------
    run_path : the train stage's output folder (``results/train``) or a run folder.
    input_paths : voxel files or folders, snapshots or folders, .npy grids (docs/predict.md).
    out : the CSV to write.
    manifest : the training split's manifest (default: the one the run records).
    options : voxel side of .npy grids, box side and positions dataset of snapshots, redshifts.
    batch_size : samples per model call (the estimates do not depend on it).
    density_tolerance : relative tolerance on the mean count per voxel.
    calibration : evaluate's metrics.json of this network (a gaussian head): its widths are
        rescaled as evaluate's (per sample, and per input as per simulation); None: raw widths.
    combinations : evaluate's combinations.json of this network: adds the ``network_stats``
        (per sample) and ``network_box`` (per whole box) estimates; None: the network's only.
    """
    if not input_paths:
        raise ValueError("no inputs given")
    tr = trained.load(run_path, manifest)
    log.info("run %s (input_norm %s, labels %s); the network expects %s (from %s)",
             tr.run_dir or run_path, tr.input_norm, tr.label_names, tr.expected.describe(),
             tr.manifest_path)
    model = trained.load_model(tr)
    scales = None if calibration is None else trained.calibration_scales(calibration, tr.label_names)
    combos = None if combinations is None else load_combinations(combinations, tr)
    results = []
    for path in input_paths:
        t0 = time.perf_counter()
        for r in predict_input(model, tr, path, options, batch_size=batch_size,
                               density_tolerance=density_tolerance, scales=scales, combos=combos):
            mean, _ = table.input_summary(r.estimates)
            log.info("%s (z = %s): %d samples in %.1f s, mean estimate %s", r.source,
                     " ".join(f"{z:g}" for z in r.redshifts), len(r.estimates.mean),
                     time.perf_counter() - t0, dict(zip(tr.label_names, mean.round(5).tolist())))
            results.append(r)
    table.write_csv(out, tr.label_names, results)
    log.info("%d input(s), %d samples -> %s", len(results),
             sum(len(r.estimates.mean) for r in results), out)
    return results
