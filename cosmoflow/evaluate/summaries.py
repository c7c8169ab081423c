"""Summary-statistics baseline: P(k) + one-point distribution of every channel, fitted by
gradient-boosted trees with hyper-parameters chosen by cross-validation over whole simulations.

Features of one sample (per channel, i.e. per redshift, end to end):
log P(k) in ``n_bins`` shells (:func:`baselines.pk_features`), then of x = log(1 + counts) over
the voxels: mean, variance, skewness, excess kurtosis, the requested quantiles and the fraction
of empty voxels. Each label gets its own ``HistGradientBoostingRegressor`` (least squares,
no early stopping) whose learning rate, leaf count and number of boosting iterations are chosen
by grouped K-fold cross-validation (folds of whole training simulations, as the P(k) ridge).
"""
from __future__ import annotations

import itertools

import numpy as np

from . import baselines


def one_point_features(cube: np.ndarray, quantiles) -> np.ndarray:
    """One-point statistics of x = log(1 + counts) of each channel of a count cube.

    Parameters
    ----------
    cube : (S, S, S) or (S, S, S, C) array  Particle counts per voxel (non-negative).
    quantiles : sequence of floats in [0, 1]  Quantiles of x to include (numpy's default,
        linear interpolation between order statistics).

    Returns
    -------
    (C * (5 + len(quantiles)),) array: per channel mean, variance, skewness, excess kurtosis
    of x, its quantiles, and the fraction of voxels with no particle (x dimensionless).

    Notes
    -----
    Integer counts take few distinct values, so every statistic is computed exactly from the
    histogram of counts (np.bincount): ~50x faster than sorting the voxels for the quantiles.
    """
    c = np.asarray(cube)
    c = c if c.ndim == 4 else c[..., None]
    q = np.asarray(quantiles, np.float64)
    out = []
    for i in range(c.shape[3]):
        counts = c[..., i].reshape(-1)
        if np.issubdtype(counts.dtype, np.integer) and counts.min() >= 0:
            hist = np.bincount(counts)
            values = np.flatnonzero(hist)
            weight, x = hist[values].astype(np.float64), np.log1p(values)
        else:
            x, weight = np.log1p(counts.astype(np.float64)), np.ones(counts.size)
            order = np.argsort(x)
            x, weight = x[order], weight[order]
        n = weight.sum()
        mean = float(np.dot(weight, x) / n)
        d = x - mean
        var = float(np.dot(weight, d**2) / n)
        skew = float(np.dot(weight, d**3) / n / var**1.5) if var > 0 else 0.0
        kurt = float(np.dot(weight, d**4) / n / var**2 - 3.0) if var > 0 else 0.0
        # order statistic j (0-based) is x[k] for the first k with cumsum(weight)[k] > j
        cum = np.cumsum(weight)
        h = (n - 1) * q
        lo = np.floor(h)
        x_lo = x[np.searchsorted(cum, lo, side="right")]
        x_hi = x[np.searchsorted(cum, np.minimum(lo + 1, n - 1), side="right")]
        empty = float(weight[x == 0.0].sum() / n)
        out += [mean, var, skew, kurt, *(x_lo + (h - lo) * (x_hi - x_lo)), empty]
    return np.asarray(out, np.float64)


def summary_features(cubes, side: float, n_bins: int, quantiles, pk: np.ndarray | None = None
                     ) -> np.ndarray:
    """Feature matrix of the summary baseline for an iterable of count cubes.

    Parameters
    ----------
    cubes : iterable of (S, S, S) or (S, S, S, C) count arrays.
    side : float  Side of a cube [Mpc/h].
    n_bins : int  k shells of the power spectrum (voxel Nyquist frequency at the top).
    quantiles : quantiles of log(1 + counts).
    pk : (n_cubes, C * n_bins) array, optional  ``baselines.pk_features`` of the same cubes
        when already computed (the P(k) ridge needs them too).

    Returns
    -------
    (n_cubes, C * (n_bins + 5 + len(quantiles))) array: log P(k) of every channel, then the
    one-point features of every channel. Non-finite values (empty shells, an empty cube) are
    NaN, which the trees treat as missing.
    """
    cubes = list(cubes)
    pk = baselines.pk_features(cubes, side, n_bins) if pk is None else np.asarray(pk, np.float64)
    one = np.stack([one_point_features(c, quantiles) for c in cubes])
    x = np.concatenate([pk, one], axis=1)
    x[~np.isfinite(x)] = np.nan
    return x


def candidate_grid(grid: dict) -> list[dict]:
    """Every (learning_rate, max_leaf_nodes) pair of the config grid, with ``min_samples_leaf``
    when the grid gives one (else scikit-learn's default); max_iter is scanned inside one fit
    (warm start), see :func:`fit_summary_cv`."""
    fixed = {"min_samples_leaf": int(grid["min_samples_leaf"])} if "min_samples_leaf" in grid else {}
    return [{"learning_rate": float(lr), "max_leaf_nodes": int(m), **fixed}
            for lr, m in itertools.product(grid["learning_rate"], grid["max_leaf_nodes"])]


def openmp_threads(threads: int):
    """Context limiting the trees' OpenMP threads (the runtime is loaded first, so that the
    limit reaches it). Small fits gain nothing from threads and, on a shared 2-core machine,
    lose much: 200 iterations on 2400 x 136 features took 0.9 s with 1 thread and 13.7 s with
    2 under load ~9 (measured 2026-12)."""
    import sklearn.ensemble  # noqa: F401
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(threads), user_api="openmp")


def _regressor(params: dict, max_iter: int, seed: int):
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(loss="squared_error", early_stopping=False, warm_start=True,
                                         max_iter=int(max_iter), random_state=seed, **params)


class SummaryRegressor:
    """One gradient-boosted tree regressor per label, each with its own hyper-parameters.

    ``params`` is a list (one per label) of dicts with learning_rate, max_leaf_nodes, max_iter
    (and optionally min_samples_leaf); ``threads`` limits OpenMP (see :func:`openmp_threads`).
    """

    def __init__(self, params: list[dict], seed: int = 0, threads: int = 1) -> None:
        self.params = [dict(p) for p in params]
        self.seed = seed
        self.threads = threads

    def fit(self, features: np.ndarray, labels: np.ndarray) -> "SummaryRegressor":
        X = np.asarray(features, np.float64)
        y = np.asarray(labels, np.float64)
        y = y[:, None] if y.ndim == 1 else y
        if y.shape[1] != len(self.params):
            raise ValueError(f"{len(self.params)} parameter sets for {y.shape[1]} labels")
        self.keep = informative_columns(X)
        self.models = []
        with openmp_threads(self.threads):
            for j, p in enumerate(self.params):
                rest = {k: v for k, v in p.items() if k != "max_iter"}
                self.models.append(_regressor(rest, p["max_iter"], self.seed).fit(X[:, self.keep], y[:, j]))
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        X = np.asarray(features, np.float64)[:, self.keep]
        with openmp_threads(self.threads):
            return np.stack([m.predict(X) for m in self.models], axis=1)


def informative_columns(features: np.ndarray) -> np.ndarray:
    """Mask of the feature columns with at least one finite value (an all-NaN column, e.g. a
    k shell with no mode in small cubes, carries nothing, and the trees' binning rejects it)."""
    return ~np.all(np.isnan(features), axis=0)


def fit_summary_cv(features: np.ndarray, labels: np.ndarray, groups, grid: dict, n_folds: int,
                   seed: int = 0, threads: int = 1) -> tuple[SummaryRegressor, list[dict], np.ndarray]:
    """The summary baseline with each label's hyper-parameters chosen by grouped CV.

    Parameters
    ----------
    features : (n, n_features) from :func:`summary_features`.
    labels : (n, n_labels) physical units.
    groups : (n,) simulation of each sample; folds hold out whole simulations.
    grid : {"learning_rate": [...], "max_leaf_nodes": [...], "max_iter": [...]} candidates,
        optionally "min_samples_leaf" (one value); other keys (e.g. "quantiles") are ignored.
    n_folds : folds (at most one per simulation).
    seed : random_state of the regressors.
    threads : OpenMP threads of the trees (1: see :func:`openmp_threads`).

    Returns
    -------
    model : SummaryRegressor refitted on all the data with the chosen hyper-parameters.
    chosen : one dict of hyper-parameters per label.
    cv_mse : (n_pairs, n_max_iter, n_labels) cross-validated mean squared error, pairs in
        :func:`candidate_grid` order (NaN with a single training simulation).

    Notes
    -----
    The boosting iterations are scanned with warm starts: one fit per (fold, pair, label) grows
    to each ``max_iter`` in ascending order and is scored at each. With a single training
    simulation nothing can be held out and the most regularised candidate is used (smallest
    learning rate, fewest leaves, fewest iterations).
    """
    with openmp_threads(threads):
        return _fit_summary_cv(np.asarray(features, np.float64), np.asarray(labels, np.float64),
                               groups, grid, n_folds, seed, threads)


def _fit_summary_cv(X, Y, groups, grid, n_folds, seed, threads):
    pairs = candidate_grid(grid)
    iters = sorted(int(i) for i in grid["max_iter"])
    cv_mse = np.zeros((len(pairs), len(iters), Y.shape[1]))
    if len(np.unique(np.asarray(groups))) < 2:
        safest = {**min(pairs, key=lambda p: (p["learning_rate"], p["max_leaf_nodes"])), "max_iter": iters[0]}
        chosen = [dict(safest) for _ in range(Y.shape[1])]
        return SummaryRegressor(chosen, seed, threads).fit(X, Y), chosen, np.full_like(cv_mse, np.nan)
    for held in baselines.group_folds(groups, n_folds):
        keep = informative_columns(X[~held])
        x_fit, x_held = X[~held][:, keep], X[held][:, keep]
        for i, p in enumerate(pairs):
            for j in range(Y.shape[1]):
                model = _regressor(p, iters[0], seed)
                for t, n_iter in enumerate(iters):
                    model.set_params(max_iter=n_iter)
                    model.fit(x_fit, Y[~held, j])
                    cv_mse[i, t, j] += np.sum((model.predict(x_held) - Y[held, j]) ** 2)
    cv_mse /= len(Y)
    chosen = []
    for j in range(Y.shape[1]):
        i, t = np.unravel_index(np.argmin(cv_mse[:, :, j]), cv_mse.shape[:2])
        chosen.append({**pairs[i], "max_iter": iters[t]})
    return SummaryRegressor(chosen, seed, threads).fit(X, Y), chosen, cv_mse
