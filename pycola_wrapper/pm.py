"""Particle-mesh gravity on a periodic cubic mesh: Poisson solve and gradient.

Choices (the same as pyCOLA, so that the two engines differ only by round-off and ordering):
- Poisson: phi_k = -delta_k / k^2 with the continuous k = 2 pi n / box (Green's function
  -1/k^2), DC mode set to 0, so lap phi = delta. No CIC window deconvolution.
- Gradient: 4-point centred finite difference on the mesh,
  d phi / dx_i = [8 (phi_{+1} - phi_{-1}) - (phi_{+2} - phi_{-2})] / (12 h), h = box / M,
  error O(h^4); it needs one inverse FFT per step instead of three for a spectral i k.
scipy.fft real transforms (float32 in, complex64 out) with ``workers`` threads; their result
does not depend on ``workers``.
Units: box [Mpc/h], k [h/Mpc], delta dimensionless, phi [(Mpc/h)^2], grad phi [Mpc/h].
"""
from __future__ import annotations

import numba as nb
import numpy as np
import scipy.fft as sfft


def _k2_axes(m: int, box: float) -> tuple[np.ndarray, np.ndarray]:
    """k^2 along a full axis and along the rfft (last) axis [(h/Mpc)^2], float32."""
    kf = 2.0 * np.pi / box
    full = np.fft.fftfreq(m, 1.0 / m) * kf
    half = np.arange(m // 2 + 1) * kf
    return (full**2).astype(np.float32), (half**2).astype(np.float32)


@nb.njit(parallel=True, cache=True)
def _apply_green(ck, k2x, k2z):
    m0, m1, m2 = ck.shape
    for i in nb.prange(m0):
        for j in range(m1):
            kxy = k2x[i] + k2x[j]
            for k in range(m2):
                k2 = kxy + k2z[k]
                if k2 > 0:
                    ck[i, j, k] = ck[i, j, k] * np.float32(-1.0 / k2)
                else:
                    ck[i, j, k] = 0.0


def potential(delta: np.ndarray, box: float, workers: int = -1) -> np.ndarray:
    """Potential phi with lap phi = delta on a periodic mesh (float32, same shape).

    Parameters
    ----------
    delta : (m, m, m) float32  Density contrast (its mean is ignored: DC set to 0).
    box : float  Box side [Mpc/h].
    workers : int  FFT threads (-1: all cores).

    Returns
    -------
    phi : (m, m, m) float32 [(Mpc/h)^2], phi_k = -delta_k / k^2.
    """
    m = delta.shape[0]
    if delta.shape != (m, m, m) or delta.dtype != np.float32:
        raise ValueError(f"delta must be a float32 cube, got {delta.dtype} {delta.shape}")
    ck = sfft.rfftn(delta, workers=workers)
    k2x, k2z = _k2_axes(m, box)
    _apply_green(ck, k2x, k2z)
    phi = sfft.irfftn(ck, s=delta.shape, workers=workers)
    del ck
    return phi.astype(np.float32, copy=False)


@nb.njit(parallel=True, cache=True)
def _fd_gradient(phi, axis, scale, out):
    m = phi.shape[0]
    p1 = np.empty(m, np.int64); n1 = np.empty(m, np.int64)
    p2 = np.empty(m, np.int64); n2 = np.empty(m, np.int64)
    for i in range(m):
        p1[i] = (i + 1) % m; n1[i] = (i - 1) % m; p2[i] = (i + 2) % m; n2[i] = (i - 2) % m
    eight = np.float32(8.0)
    for i in nb.prange(m):
        for j in range(m):
            if axis == 0:
                for k in range(m):
                    out[i, j, k] = scale * (eight * (phi[p1[i], j, k] - phi[n1[i], j, k])
                                            - (phi[p2[i], j, k] - phi[n2[i], j, k]))
            elif axis == 1:
                for k in range(m):
                    out[i, j, k] = scale * (eight * (phi[i, p1[j], k] - phi[i, n1[j], k])
                                            - (phi[i, p2[j], k] - phi[i, n2[j], k]))
            else:
                for k in range(m):
                    out[i, j, k] = scale * (eight * (phi[i, j, p1[k]] - phi[i, j, n1[k]])
                                            - (phi[i, j, p2[k]] - phi[i, j, n2[k]]))


def gradient(phi: np.ndarray, axis: int, box: float, out: np.ndarray | None = None) -> np.ndarray:
    """4-point finite-difference derivative d phi / dx_axis on a periodic mesh (float32).

    Parameters
    ----------
    phi : (m, m, m) float32  Field [(Mpc/h)^2].
    axis : int  0, 1 or 2.
    box : float  Box side [Mpc/h].
    out : optional (m, m, m) float32 buffer to write into.
    """
    m = phi.shape[0]
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
    if out is None:
        out = np.empty_like(phi)
    _fd_gradient(phi, axis, np.float32(m / (12.0 * box)), out)
    return out


def fd_gradient_transfer(k: np.ndarray, h: float) -> np.ndarray:
    """Fourier transfer of the 4-point derivative: i k_eff with k_eff = (8 sin kh - sin 2kh) / (6 h).

    k in [h/Mpc], h mesh spacing [Mpc/h]; k_eff -> k (1 - (kh)^4 / 30) for small kh.
    """
    k = np.asarray(k, dtype=np.float64)
    return (8.0 * np.sin(k * h) - np.sin(2.0 * k * h)) / (6.0 * h)
