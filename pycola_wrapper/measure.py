"""Power spectrum and cross-correlation of particle snapshots (CIC, window deconvolved).

Units: positions and box [Mpc/h], k [h/Mpc], P(k) [(Mpc/h)^3].
"""
from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from . import cic


def density_k(pos: np.ndarray, box: float, m: int, workers: int = -1) -> np.ndarray:
    """FFT of the CIC density contrast, divided by the CIC window (rfftn layout, complex128).

    Normalised so that P(k) = <|delta_k|^2> box^3 / m^6.
    """
    rho = cic.paint(pos, m, box)
    rho = rho.astype(np.float64) * (m**3 / pos.shape[0]) - 1.0
    dk = sfft.rfftn(rho, workers=workers)
    f = np.fft.fftfreq(m)
    fz = np.arange(m // 2 + 1) / m
    w = (np.sinc(f)[:, None, None] * np.sinc(f)[None, :, None] * np.sinc(fz)[None, None, :]) ** 2
    return dk / w


def _bin(field_k: np.ndarray, box: float, k_edges: np.ndarray):
    m = field_k.shape[0]
    kf = 2.0 * np.pi / box
    fx = np.fft.fftfreq(m, 1.0 / m)
    fz = np.arange(m // 2 + 1)
    kmag = kf * np.sqrt(fx[:, None, None] ** 2 + fx[None, :, None] ** 2 + fz[None, None, :] ** 2)
    # rfft layout: planes 0 < kz < m/2 stand for two modes (kz and -kz)
    weight = np.full(m // 2 + 1, 2.0)
    weight[0] = 1.0
    if m % 2 == 0:
        weight[-1] = 1.0
    weight = np.broadcast_to(weight[None, None, :], kmag.shape)
    idx = np.digitize(kmag.ravel(), k_edges) - 1
    ok = (idx >= 0) & (idx < len(k_edges) - 1) & (kmag.ravel() > 0)
    nb_ = len(k_edges) - 1
    cnt = np.bincount(idx[ok], weights=weight.ravel()[ok], minlength=nb_)
    ksum = np.bincount(idx[ok], weights=(weight * kmag).ravel()[ok], minlength=nb_)
    vals = np.bincount(idx[ok], weights=(weight * field_k).ravel()[ok], minlength=nb_)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ksum / cnt, vals / cnt, cnt


def power_spectrum(pos: np.ndarray, box: float, m: int, k_edges: np.ndarray | None = None,
                   workers: int = -1):
    """Binned P(k) of a snapshot: returns (k_mean [h/Mpc], P [(Mpc/h)^3], n_modes).

    Default bins: width of the fundamental mode 2 pi / box, up to the mesh Nyquist.
    No shot-noise subtraction (compare snapshots of the same particle count).
    """
    if k_edges is None:
        kf = 2.0 * np.pi / box
        k_edges = kf * (np.arange(m // 2 + 1) + 0.5)
    dk = density_k(pos, box, m, workers)
    k, p, cnt = _bin(np.abs(dk) ** 2, box, k_edges)
    return k, p * box**3 / m**6, cnt


def cross_correlation(pos_a: np.ndarray, pos_b: np.ndarray, box: float, m: int,
                      k_edges: np.ndarray | None = None, workers: int = -1):
    """r(k) = P_ab / sqrt(P_aa P_bb) per bin: returns (k [h/Mpc], r, P_a, P_b)."""
    if k_edges is None:
        kf = 2.0 * np.pi / box
        k_edges = kf * (np.arange(m // 2 + 1) + 0.5)
    da = density_k(pos_a, box, m, workers)
    db = density_k(pos_b, box, m, workers)
    k, paa, _ = _bin(np.abs(da) ** 2, box, k_edges)
    _, pbb, _ = _bin(np.abs(db) ** 2, box, k_edges)
    _, pab, _ = _bin((da * np.conj(db)).real, box, k_edges)
    norm = box**3 / m**6
    return k, pab / np.sqrt(paa * pbb), paa * norm, pbb * norm
