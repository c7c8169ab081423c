"""The modes of a real FFT (``numpy.fft.rfftn`` / ``tf.signal.rfft3d`` layout) of a cube: their
|k|, their weight in a mean over all modes, and their |k| bands. Shared by the P(k) baselines
(`cosmoflow.evaluate.baselines.band_power`) and the network's power-spectrum input
(`cosmoflow.model.power_features`), so both bin the same modes with the same weights.
"""
from __future__ import annotations

import numpy as np


def rfft_modes(size: int) -> tuple[np.ndarray, np.ndarray]:
    """|k| in units of the fundamental mode, (size, size, size // 2 + 1) float64, and each
    mode's weight, (size // 2 + 1,) float64, along the half axis: 2 for a mode standing for
    itself and its Hermitian pair, 1 for the planes that are their own pair (h = 0 and, for an
    even size, h = size / 2)."""
    f = np.fft.fftfreq(size, 1.0 / size)
    h = np.arange(size // 2 + 1)
    kmag = np.sqrt(f[:, None, None] ** 2 + f[None, :, None] ** 2 + h[None, None, :] ** 2)
    weight = np.full(h.shape, 2.0)
    weight[0] = 1.0
    if size % 2 == 0:
        weight[-1] = 1.0
    return kmag, weight


def mode_bands(kmag: np.ndarray, weight: np.ndarray,
               edges) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The band [edges[i], edges[i + 1]) of every mode, for means over a band's modes.

    Parameters
    ----------
    kmag : (size, size, size // 2 + 1) |k| of the modes, in the units of ``edges``.
    weight : (size // 2 + 1,) the modes' weights along the half axis (``rfft_modes``).
    edges : (n_bands + 1,) increasing band edges.

    Returns
    -------
    bands : (n_modes,) int64, flat in C order: each mode's band, n_bands for a mode in none.
    weights : (n_modes,) float64, each mode's weight.
    totals : (n_bands,) float64, the summed weight of each band's modes (0 for an empty band).
    """
    edges = np.asarray(edges, np.float64)
    n_bands = len(edges) - 1
    weights = np.broadcast_to(weight, kmag.shape).ravel()
    idx = np.digitize(kmag.ravel(), edges) - 1
    bands = np.where((idx >= 0) & (idx < n_bands), idx, n_bands)
    totals = np.bincount(bands, weights=weights, minlength=n_bands + 1)[:n_bands]
    return bands, weights, totals
