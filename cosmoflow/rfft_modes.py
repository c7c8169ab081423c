"""The modes of a real FFT (``numpy.fft.rfftn`` / ``tf.signal.rfft3d`` layout) of a cube: their
|k| and their weight in a mean over all modes. Shared by the P(k) baselines
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
