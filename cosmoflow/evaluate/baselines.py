"""Baselines the network must beat: the mean predictor and a power-spectrum ridge regression.

The P(k) baseline uses the shell-averaged power spectrum of each count sub-volume (k bins up
to the voxel Nyquist frequency; every channel's when a sample stacks several redshifts),
log-transformed, fitted to the labels by ridge regression on the training split.
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.fft as sfft

from cosmoflow.rfft_modes import mode_bands, rfft_modes


def mean_predictor(train_labels: np.ndarray, n: int) -> np.ndarray:
    """Predict the training-set mean labels for n samples."""
    return np.broadcast_to(np.asarray(train_labels, np.float64).mean(axis=0), (n, train_labels.shape[1])).copy()


def shell_power(counts: np.ndarray, side: float, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Shell-averaged P(k) of the overdensity of a count cube.

    Parameters
    ----------
    counts : (S, S, S) array  Particle counts per voxel.
    side : float  Side of the cube [Mpc/h].
    n_bins : int  Linear k bins from the fundamental mode to the voxel Nyquist frequency.

    Returns
    -------
    k : (n_bins,) bin centres [h/Mpc];  pk : (n_bins,) [(Mpc/h)^3] (NaN for an empty bin).
    """
    s = counts.shape[0]
    edges = np.linspace(2 * np.pi / side, np.pi * s / side, n_bins + 1)
    return band_power(counts, side, edges)


def band_power(counts: np.ndarray, side: float, edges) -> tuple[np.ndarray, np.ndarray]:
    """P(k) of the overdensity of a count cube averaged over the modes in each band
    [edges[i], edges[i + 1]) [h/Mpc]: (mean k of the band's modes, mean power [(Mpc/h)^3]),
    NaN for a band without modes."""
    s = counts.shape[0]
    edges = np.asarray(edges, np.float64)
    n_bins = len(edges) - 1
    bins, weight, nmodes, ksum = _bands(s, float(side), tuple(edges.tolist()))
    delta = counts.astype(np.float32) / np.float32(counts.mean()) - 1.0
    dk = sfft.rfftn(delta, workers=-1)
    power = (np.abs(dk) ** 2).astype(np.float64) * side**3 / s**6
    psum = np.bincount(bins, weights=weight * power.ravel(), minlength=n_bins + 1)[:n_bins]
    with np.errstate(invalid="ignore", divide="ignore"):
        return ksum / nmodes, psum / nmodes


@functools.lru_cache(maxsize=8)
def _bands(size: int, side: float, edges: tuple) -> tuple:
    """The band of every rfft mode of a size^3 cube of side `side` [Mpc/h] (n_bins for the modes
    outside every band), each mode's weight, and per band the number of modes and the sum of
    their |k| [h/Mpc]: what `band_power` needs besides the power itself, the same for every cube
    of one geometry (computed once; the sums over a band add the same terms in the same order
    as binning each cube anew)."""
    n_bins = len(edges) - 1
    kmag, weight = rfft_modes(size)
    kmag = kmag * (2 * np.pi / side)
    bins, weight, nmodes = mode_bands(kmag, weight, edges)
    ksum = np.bincount(bins, weights=weight * kmag.ravel(), minlength=n_bins + 1)[:n_bins]
    for a in (bins, weight, nmodes, ksum):
        a.flags.writeable = False
    return bins, weight, nmodes, ksum


def pk_features(cubes, side: float, n_bins: int) -> np.ndarray:
    """log P(k) feature vectors for an iterable of count cubes (S, S, S) or (S, S, S, C).

    Shape (n_cubes, C * n_bins): the log P(k) of every channel (redshift), end to end, so with
    several redshifts the ridge can use the growth between them as the network can.
    """
    def one(c):
        c = c if c.ndim == 4 else c[..., None]
        return np.concatenate([np.log(shell_power(c[..., i], side, n_bins)[1])
                               for i in range(c.shape[3])])
    return np.stack([one(np.asarray(c)) for c in cubes])


class RidgePk:
    """Ridge regression of standardised labels on standardised log P(k) features.

    ``alpha`` is one penalty for every label column, or one per column (length n_labels).
    Feature columns that are not finite in every training sample (a k shell with no mode, in
    small cubes with many bins) are left out of the fit and of the predictions.
    """

    def __init__(self, alpha) -> None:
        self.alpha = np.atleast_1d(np.asarray(alpha, np.float64))

    def fit(self, features: np.ndarray, labels: np.ndarray) -> "RidgePk":
        X = np.asarray(features, np.float64)
        Y = np.asarray(labels, np.float64)
        if Y.ndim == 1:
            Y = Y[:, None]
        alphas = np.broadcast_to(self.alpha, (Y.shape[1],))
        self.keep = np.isfinite(X).all(axis=0)
        X = X[:, self.keep]
        self.x_mean, self.x_std = X.mean(0), X.std(0) + 1e-12
        self.y_mean = Y.mean(0)
        Z = (X - self.x_mean) / self.x_std
        ZtZ, ZtY = Z.T @ Z, Z.T @ (Y - self.y_mean)
        eye = len(Z) * np.eye(Z.shape[1])
        self.coef = np.stack([np.linalg.solve(ZtZ + a * eye, ZtY[:, j])
                              for j, a in enumerate(alphas)], axis=1)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        Z = (np.asarray(features, np.float64)[:, self.keep] - self.x_mean) / self.x_std
        return Z @ self.coef + self.y_mean

    STATE = ("alpha", "keep", "x_mean", "x_std", "y_mean", "coef")

    def state(self) -> dict:
        """The fitted model as JSON-ready lists (float64 values round-trip exactly through
        JSON): penalties, kept feature columns, the features' and labels' standardisation and
        the coefficients (n_kept, n_labels)."""
        return {k: np.asarray(getattr(self, k)).tolist() for k in self.STATE}

    @classmethod
    def from_state(cls, state: dict, where: str = "ridge") -> "RidgePk":
        """The model ``state()`` wrote; ValueError naming ``where`` and the key when a key is
        missing or the shapes disagree."""
        missing = [k for k in cls.STATE if k not in state]
        if missing:
            raise ValueError(f"{where}: missing key(s) {missing} (expected {list(cls.STATE)})")
        model = cls(state["alpha"])
        model.keep = np.asarray(state["keep"], bool)
        for k in ("x_mean", "x_std", "y_mean", "coef"):
            setattr(model, k, np.asarray(state[k], np.float64))
        n_kept, n_labels = int(model.keep.sum()), len(model.y_mean)
        if (model.keep.ndim != 1 or model.x_mean.shape != (n_kept,) or model.x_std.shape != (n_kept,)
                or model.coef.shape != (n_kept, n_labels)):
            raise ValueError(f"{where}: inconsistent shapes: keep {model.keep.shape} ({n_kept} "
                             f"kept), x_mean {model.x_mean.shape}, x_std {model.x_std.shape}, "
                             f"coef {model.coef.shape}, y_mean {model.y_mean.shape}")
        return model

    @property
    def n_features(self) -> int:
        """Number of feature columns the model reads (kept or not)."""
        return len(self.keep)


def group_folds(groups, n_folds: int) -> list[np.ndarray]:
    """Boolean held-out masks of ``n_folds`` folds that never split a group (a simulation).

    Groups are dealt to folds in sorted order, round robin; with fewer groups than folds each
    group is its own fold.
    """
    groups = np.asarray(groups)
    uniq = np.unique(groups)
    n = min(int(n_folds), len(uniq))
    if n < 2:
        raise ValueError(f"cross-validation needs at least 2 groups (simulations), got {len(uniq)}")
    fold_of = {g: i % n for i, g in enumerate(uniq)}
    which = np.array([fold_of[g] for g in groups])
    return [which == i for i in range(n)]


def fit_ridge_cv(features: np.ndarray, labels: np.ndarray, groups, alphas, n_folds: int = 5
                 ) -> tuple[RidgePk, np.ndarray, np.ndarray]:
    """Ridge P(k) baseline with the penalty of each label chosen by grouped cross-validation.

    Folds hold out whole simulations (sub-volumes of one simulation share its labels and
    large-scale modes), so the chosen penalty is the one that generalises to new cosmologies.

    With a single training simulation nothing can be held out: the largest penalty is used
    (the most regularised fit, closest to the mean predictor).

    Returns
    -------
    model : RidgePk  refitted on all the data with the chosen penalties.
    chosen : (n_labels,) penalty per label.
    cv_mse : (n_alphas, n_labels) cross-validated mean squared error of each penalty.
    """
    X = np.asarray(features, np.float64)
    Y = np.asarray(labels, np.float64)
    alphas = np.asarray(alphas, np.float64)
    cv_mse = np.zeros((len(alphas), Y.shape[1]))
    if len(np.unique(np.asarray(groups))) < 2:  # one training simulation: nothing to hold out
        chosen = np.full(Y.shape[1], alphas.max())
        return RidgePk(chosen).fit(X, Y), chosen, np.full_like(cv_mse, np.nan)
    for held in group_folds(groups, n_folds):
        for i, a in enumerate(alphas):
            pred = RidgePk(a).fit(X[~held], Y[~held]).predict(X[held])
            cv_mse[i] += ((pred - Y[held]) ** 2).sum(0)
    cv_mse /= len(Y)
    chosen = alphas[np.argmin(cv_mse, axis=0)]
    return RidgePk(chosen).fit(X, Y), chosen, cv_mse
