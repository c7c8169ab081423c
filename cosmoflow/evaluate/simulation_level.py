"""Estimates of one simulation's parameters from all of it (docs/model.md, "Per simulation").

A sub-volume (64 Mpc/h) holds no mode longer than itself, so averaging the network's sub-volume
predictions leaves out the largest scales of the box, which carry most of what one simulation
says about sigma_8 beside n_s (at small scales the two are degenerate: measured on validation,
the network's per-simulation sigma_8 error is 95 % explained by the true n_s and sigma_8). Three
simulation-level estimators fill that in, all fitted on the training simulations only:

- ``box_pk_ridge`` (a baseline): ridge regression on the whole box's log band powers, one band
  per octave from the box's fundamental mode to the voxel Nyquist frequency, every channel
  (redshift);
- ``box_stats_ridge`` (a baseline): a ridge on those band powers plus the mean over the
  simulation's sub-volumes of their summary statistics (the summary baselines' features: log
  P(k) and the one-point distribution of every channel);
- ``network_box`` (ours): a ridge on the band powers, the mean of the network's predictions over
  the simulation's sub-volumes (the network's small-scale, non-Gaussian read) and, when given,
  the mean summary statistics (since 2026-12-02; before, band powers and network only).

The whole box is re-assembled from the split's records (every sub-volume of a simulation is in
its split), so no other input is needed. Pure array functions; penalties by leave-simulations-out
cross-validation (``baselines.fit_ridge_cv``).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from cosmoflow.evaluate import baselines


def assemble_boxes(samples: Iterable) -> tuple[dict, dict]:
    """Whole boxes from sub-volumes.

    samples : (counts (S, S, S, C), labels, sim, subvolume index k, z (C,)) tuples
        (``stage.iter_samples``); k = (i * n + j) * n + l, n = boxes' side / S. Samples of one
        simulation at other redshifts (single-channel records) become further channels, in
        increasing z.
    Returns ({sim: (V, V, V, C) counts}, {sim: labels}); raises ValueError naming the simulation
    if a sub-volume is missing or appears twice.
    """
    parts: dict = {}
    labels: dict = {}
    for counts, y, sim, k, z in samples:
        cubes = parts.setdefault(sim, {}).setdefault(tuple(np.round(z, 6)), {})
        if k in cubes:
            raise ValueError(f"simulation {sim}: sub-volume {k} at z = {z} appears twice")
        cubes[k] = np.asarray(counts)
        labels[sim] = np.asarray(y, np.float64)
    boxes = {}
    for sim, by_z in parts.items():
        boxes[sim] = np.concatenate([_one_box(sim, by_z[z]) for z in sorted(by_z)], axis=3)
    return boxes, labels


def _one_box(sim, cubes: dict) -> np.ndarray:
    n = round(len(cubes) ** (1 / 3))
    if n ** 3 != len(cubes) or set(cubes) != set(range(n ** 3)):
        raise ValueError(f"simulation {sim}: {len(cubes)} sub-volumes, not the n^3 of a whole box "
                         f"(indices {sorted(cubes)[:5]}...)")
    first = cubes[0]
    s = first.shape[0]
    box = np.empty((n * s,) * 3 + (first.shape[3] if first.ndim == 4 else 1,), first.dtype)
    for k, cube in cubes.items():
        i, j, l = k // (n * n), (k // n) % n, k % n
        box[i * s:(i + 1) * s, j * s:(j + 1) * s, l * s:(l + 1) * s] = cube.reshape(s, s, s, -1)
    return box


def octave_edges(side: float, n_voxels: int) -> np.ndarray:
    """Band edges [h/Mpc]: the fundamental 2 pi / side doubling up to the Nyquist pi n / side
    (the last band ends at the Nyquist frequency)."""
    k_f, k_ny = 2 * math.pi / side, math.pi * n_voxels / side
    n = max(1, math.ceil(math.log2(k_ny / k_f) - 1e-9))
    return np.minimum(k_f * 2.0 ** np.arange(n + 1), k_ny)


def box_features(box: np.ndarray, side: float) -> np.ndarray:
    """log band powers of every channel of one box (V, V, V) or (V, V, V, C): (C * n_bands,)."""
    box = box if box.ndim == 4 else box[..., None]
    edges = octave_edges(side, box.shape[0])
    return np.concatenate([np.log(baselines.band_power(box[..., c], side, edges)[1])
                           for c in range(box.shape[3])])


def network_box_inputs(network: np.ndarray, band_powers: np.ndarray,
                       stats: np.ndarray | None = None) -> np.ndarray:
    """The ``network_box`` ridge's input rows: [mean network prediction (L), box band powers
    (``box_features``), mean summary statistics (F) when given], one row per simulation."""
    parts = [network, band_powers] + ([] if stats is None else [stats])
    return np.hstack([np.asarray(p, np.float64) for p in parts])


def simulation_estimates(train_boxes: dict, train_labels: dict, train_network: dict,
                         test_boxes: dict, test_network: dict, side: float, alphas: Sequence[float],
                         n_folds: int, *, train_stats: dict | None = None,
                         test_stats: dict | None = None) -> dict:
    """Per-simulation predictions of the estimators for the test simulations.

    *_network : {sim: mean network prediction over its sub-volumes (physical units)}.
    *_stats : {sim: mean summary statistics over its sub-volumes (F,)}, both or neither; columns
        not finite in every training simulation are left out (``baselines.RidgePk``).
    Returns {"sims": sorted test sims, "box_pk_ridge": (n, L), "network_box": (n, L),
    "box_stats_ridge": (n, L) (with the statistics only), "alphas": {estimator: per-label
    penalties}, "models": {estimator: the fitted ``baselines.RidgePk``}}.
    """
    if (train_stats is None) != (test_stats is None):
        raise ValueError("give the summary statistics of both the training and the test simulations, or neither")
    tr = sorted(train_boxes)
    te = sorted(test_boxes)
    f_tr = np.stack([box_features(train_boxes[s], side) for s in tr])
    f_te = np.stack([box_features(test_boxes[s], side) for s in te])
    y_tr = np.stack([train_labels[s] for s in tr])
    n_tr = np.stack([train_network[s] for s in tr])
    n_te = np.stack([test_network[s] for s in te])
    s_tr = s_te = None
    inputs = {"box_pk_ridge": (f_tr, f_te)}
    if train_stats is not None:
        s_tr = np.stack([train_stats[s] for s in tr])
        s_te = np.stack([test_stats[s] for s in te])
        inputs["box_stats_ridge"] = (np.hstack([f_tr, s_tr]), np.hstack([f_te, s_te]))
    inputs["network_box"] = (network_box_inputs(n_tr, f_tr, s_tr), network_box_inputs(n_te, f_te, s_te))
    out = {"sims": te, "alphas": {}, "models": {}}
    for name, (x_tr, x_te) in inputs.items():
        model, chosen, _ = baselines.fit_ridge_cv(x_tr, y_tr, tr, alphas, n_folds)
        out[name] = model.predict(x_te)
        out["alphas"][name] = chosen.tolist()
        out["models"][name] = model
    return out
