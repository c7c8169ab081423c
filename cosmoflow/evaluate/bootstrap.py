"""Bootstrap over test simulations (pure numpy): intervals of every metric and paired comparisons.

The unit of resampling is the simulation, not the sample: the sub-volumes (and redshifts) of
one simulation share its cosmology and its large-scale modes, so their errors are correlated
and resampling them one by one would give intervals that are too narrow. A resample draws
``n_sims`` test simulations with replacement and keeps all the samples of each draw.

Intervals are percentile intervals at ``confidence`` (e.g. 0.95: the 2.5 and 97.5 percentiles
of the resampled metric). A paired comparison of predictors a and b evaluates
d = RMSE(a) - RMSE(b) on the *same* resamples; ``beats`` is True when the fraction of resamples
with d < 0 is >= ``confidence`` (a one-sided test at that level: a beats b with 95 %
confidence when at least 95 % of the resampled differences are below zero).
"""
from __future__ import annotations

import warnings

import numpy as np

from . import metrics


def sd_prior(label_norm: dict, names: list[str]) -> np.ndarray:
    """Standard deviation of each parameter's uniform prior, (high - low) / sqrt(12).

    Parameters
    ----------
    label_norm : dict  The manifest's ``label_norm`` (keys ``names``, ``low``, ``high``).
    names : the parameters wanted, in order.

    Returns
    -------
    (len(names),) array in the parameters' units (e.g. 0.0289 for Omega_M in [0.25, 0.35)).
    """
    missing = [n for n in names if n not in label_norm["names"]]
    if missing:
        raise ValueError(f"label_norm has no prior for {missing} (it has {label_norm['names']})")
    i = [label_norm["names"].index(n) for n in names]
    low, high = np.asarray(label_norm["low"], np.float64)[i], np.asarray(label_norm["high"], np.float64)[i]
    return (high - low) / np.sqrt(12.0)


def resample_weights(n_groups: int, n_resamples: int, seed: int) -> np.ndarray:
    """How often each group (simulation) is drawn in each resample.

    Returns
    -------
    (n_resamples, n_groups) int array; every row sums to n_groups (draws with replacement).
    """
    if n_groups < 1 or n_resamples < 1:
        raise ValueError(f"need n_groups >= 1 and n_resamples >= 1, got {n_groups}, {n_resamples}")
    draws = np.random.default_rng(seed).integers(0, n_groups, size=(n_resamples, n_groups))
    rows = np.repeat(np.arange(n_resamples), n_groups)
    return np.bincount(rows * n_groups + draws.ravel(), minlength=n_resamples * n_groups
                       ).reshape(n_resamples, n_groups)


def _percentiles(values: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0, ignoring NaN (R^2 of a resample of one simulation)."""
    tail = 50.0 * (1.0 - confidence)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column gives NaN, quietly
        lo, hi = np.nanpercentile(values, [tail, 100.0 - tail], axis=0)
    return lo, hi


def resampled_metrics(pred: np.ndarray, true: np.ndarray, groups, weights: np.ndarray,
                      prior_sd=None) -> dict[str, np.ndarray]:
    """Every metric on every resample: {metric: (n_resamples, n_params)}.

    ``weights`` (n_resamples, n_groups) from :func:`resample_weights`, groups in sorted order.
    """
    sums, uniq = metrics.sufficient_sums(pred, true, groups)
    if weights.shape[1] != len(uniq):
        raise ValueError(f"weights are for {weights.shape[1]} groups, the data has {len(uniq)}")
    with np.errstate(invalid="ignore"):  # 0 x inf (a relative error with a zero truth) is NaN
        return metrics.from_sums(np.tensordot(weights, sums, axes=(1, 0)), prior_sd)


def bootstrap_metrics(pred: np.ndarray, true: np.ndarray, groups, names: list[str],
                      weights: np.ndarray, confidence: float, prior_sd=None) -> dict:
    """Point metrics per parameter (all test samples) with percentile intervals over resamples.

    Parameters
    ----------
    pred, true : (n, n_params) arrays in physical units.
    groups : (n,) simulation of each sample.
    weights : (n_resamples, n_groups) from :func:`resample_weights`.
    confidence : level of the intervals, e.g. 0.95.
    prior_sd : (n_params,) prior standard deviations (for r2_prior), parameters' units.

    Returns
    -------
    {name: {metric: value, ..., "n": samples, "interval": {metric: [low, high]}}}
    """
    point = metrics.parameter_metrics(pred, true, names, prior_sd)
    lo, hi = {}, {}
    for k, v in resampled_metrics(pred, true, groups, weights, prior_sd).items():
        lo[k], hi[k] = _percentiles(v, confidence)
    for j, name in enumerate(names):
        point[name]["interval"] = {k: [float(lo[k][j]), float(hi[k][j])] for k in metrics.METRICS}
    return point


def paired_rmse_difference(pred_a: np.ndarray, pred_b: np.ndarray, true: np.ndarray, groups,
                           names: list[str], weights: np.ndarray, confidence: float) -> dict:
    """Paired bootstrap of RMSE(a) - RMSE(b) per parameter, both on the same resamples.

    Returns
    -------
    {name: {"diff_rmse": RMSE(a) - RMSE(b) on all samples, "interval": [low, high] at
    ``confidence``, "frac_below_zero": fraction of resamples with a difference < 0,
    "beats": frac_below_zero >= confidence}} (a one-sided test: a beats b).
    """
    ra = resampled_metrics(pred_a, true, groups, weights)["rmse"]
    rb = resampled_metrics(pred_b, true, groups, weights)["rmse"]
    diff = ra - rb
    lo, hi = _percentiles(diff, confidence)
    below = np.mean(diff < 0, axis=0)
    pa = metrics.parameter_metrics(pred_a, true, names)
    pb = metrics.parameter_metrics(pred_b, true, names)
    return {name: {"diff_rmse": pa[name]["rmse"] - pb[name]["rmse"],
                   "interval": [float(lo[j]), float(hi[j])],
                   "frac_below_zero": float(below[j]),
                   "beats": bool(below[j] >= confidence)}
            for j, name in enumerate(names)}


def simulation_means(pred: np.ndarray, true: np.ndarray, groups) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-simulation estimates: the mean of each simulation's sample predictions.

    Returns
    -------
    pred_sim, true_sim : (n_sims, n_params)  true_sim is the simulation's label (its samples
        must all carry the same one).
    sims : (n_sims,) the simulations, sorted.
    """
    pred = np.asarray(pred, np.float64)
    true = np.asarray(true, np.float64)
    sims, inv = np.unique(np.asarray(groups), return_inverse=True)
    count = np.bincount(inv, minlength=len(sims)).astype(np.float64)[:, None]
    ps, ts = np.zeros((len(sims), pred.shape[1])), np.zeros((len(sims), true.shape[1]))
    np.add.at(ps, inv, pred)
    np.add.at(ts, inv, true)
    ps, ts = ps / count, ts / count
    if not np.allclose(true, ts[inv], rtol=1e-6, atol=0.0):
        raise ValueError("the samples of one simulation carry different labels")
    return ps, ts, sims


def judge(predictions: dict[str, np.ndarray], true: np.ndarray, groups, names: list[str], *,
          weights: np.ndarray, confidence: float, prior_sd=None, reference: str = "network") -> dict:
    """Metrics with intervals for every predictor, and the reference against every other one.

    Parameters
    ----------
    predictions : {predictor: (n, n_params)}; must hold ``reference``; the others are baselines.
    true, groups, names, weights, confidence, prior_sd : as :func:`bootstrap_metrics`.

    Returns
    -------
    {"metrics": {predictor: bootstrap_metrics(...)},
     "comparisons": {f"{reference}_vs_{b}": paired_rmse_difference(reference, b)},
     "best_baseline": {name: {"baseline": the baseline of lowest RMSE (NaN counts as worst), "rmse": its RMSE,
                              "network_beats": comparisons[...][name]["beats"]}}}
    """
    if reference not in predictions or len(predictions) < 2:
        raise ValueError(f"predictions must hold {reference!r} and at least one baseline, got {list(predictions)}")
    res = {p: bootstrap_metrics(v, true, groups, names, weights, confidence, prior_sd)
           for p, v in predictions.items()}
    base = [p for p in predictions if p != reference]
    comp = {f"{reference}_vs_{b}": paired_rmse_difference(predictions[reference], predictions[b], true,
                                                          groups, names, weights, confidence)
            for b in base}
    best = {}
    for name in names:
        b = min(base, key=lambda p: np.nan_to_num(res[p][name]["rmse"], nan=np.inf))
        best[name] = {"baseline": b, "rmse": res[b][name]["rmse"],
                      f"{reference}_beats": comp[f"{reference}_vs_{b}"][name]["beats"]}
    return {"metrics": res, "comparisons": comp, "best_baseline": best}
