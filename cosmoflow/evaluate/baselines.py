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
from cosmoflow.ridge import RidgePk, fit_ridge_cv, group_folds  # noqa: F401 (the baselines' fit)


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
