"""Particle-mesh gravity on a periodic cubic mesh: Poisson solve and gradient.

Choices (the same as pyCOLA, so that the two engines differ only by round-off and ordering):
- Poisson: phi_k = -delta_k / k^2 with the continuous k = 2 pi n / box (Green's function
  -1/k^2), DC mode set to 0, so lap phi = delta. No CIC window deconvolution.
- Gradient: pyCOLA's 4-point finite difference evaluated directly at each particle: the
  derivative of the cubic through 4 mesh points along the axis, bilinear (CIC) weights across
  it (``gradient_at``). One inverse FFT per step (a spectral i k needs three) and no gradient
  mesh in memory; gradient and interpolation are one fused pass over the particles.
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


def potential_k(delta: np.ndarray, box: float, workers: int = -1) -> np.ndarray:
    """phi_k = -delta_k / k^2 (rfftn layout, complex64); DC set to 0. See ``potential``."""
    m = delta.shape[0]
    if delta.shape != (m, m, m) or delta.dtype != np.float32:
        raise ValueError(f"delta must be a float32 cube, got {delta.dtype} {delta.shape}")
    ck = sfft.rfftn(delta, workers=workers)
    k2x, k2z = _k2_axes(m, box)
    _apply_green(ck, k2x, k2z)
    return ck


def to_real(field_k: np.ndarray, m: int, workers: int = -1) -> np.ndarray:
    """Inverse real FFT of an rfftn-layout field to an (m, m, m) float32 mesh."""
    return sfft.irfftn(field_k, s=(m, m, m), workers=workers).astype(np.float32, copy=False)


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
    return to_real(potential_k(delta, box, workers), delta.shape[0], workers)


@nb.njit(inline="always")
def _coefs(d):
    """Weights of phi_{i-1}, phi_i, phi_{i+1}, phi_{i+2} in the derivative at offset d (cells)."""
    three = np.float32(3.0)
    six = np.float32(6.0)
    cm1 = (np.float32(-2.0) - three * d * (d - np.float32(2.0))) / six
    c00 = three * (np.float32(-1.0) + d * (np.float32(-4.0) + three * d)) / six
    cp1 = (six + three * d * (np.float32(2.0) - three * d)) / six
    cp2 = (np.float32(-1.0) + three * d * d) / six
    return cm1, c00, cp1, cp2


@nb.njit(inline="always")
def _grad3(phi, x, y, z, inv_h, m):
    """(d phi/dx, d phi/dy, d phi/dz) at one position: pyCOLA's 4-point derivative along each
    axis (the cubic through phi at i-1 .. i+2, differentiated at the particle) times bilinear
    (CIC) weights over the 2 x 2 neighbouring lines across it."""
    u = x * inv_h
    v = y * inv_h
    w = z * inv_h
    fi = np.floor(u)
    fj = np.floor(v)
    fk = np.floor(w)
    dx = np.float32(u - fi)
    dy = np.float32(v - fj)
    dz = np.float32(w - fk)
    i = int(fi) % m
    j = int(fj) % m
    k = int(fk) % m
    im = i - 1 if i > 0 else m - 1
    jm = j - 1 if j > 0 else m - 1
    km = k - 1 if k > 0 else m - 1
    ip = i + 1 if i + 1 < m else 0
    jp = j + 1 if j + 1 < m else 0
    kp = k + 1 if k + 1 < m else 0
    ip2 = ip + 1 if ip + 1 < m else 0
    jp2 = jp + 1 if jp + 1 < m else 0
    kp2 = kp + 1 if kp + 1 < m else 0
    one = np.float32(1.0)
    ux, uy, uz = one - dx, one - dy, one - dz
    ax0, ax1, ax2, ax3 = _coefs(dx)
    ay0, ay1, ay2, ay3 = _coefs(dy)
    az0, az1, az2, az3 = _coefs(dz)
    gx = (uy * uz * (ax0 * phi[im, j, k] + ax1 * phi[i, j, k] + ax2 * phi[ip, j, k] + ax3 * phi[ip2, j, k])
          + uy * dz * (ax0 * phi[im, j, kp] + ax1 * phi[i, j, kp] + ax2 * phi[ip, j, kp] + ax3 * phi[ip2, j, kp])
          + dy * uz * (ax0 * phi[im, jp, k] + ax1 * phi[i, jp, k] + ax2 * phi[ip, jp, k] + ax3 * phi[ip2, jp, k])
          + dy * dz * (ax0 * phi[im, jp, kp] + ax1 * phi[i, jp, kp] + ax2 * phi[ip, jp, kp] + ax3 * phi[ip2, jp, kp]))
    gy = (ux * uz * (ay0 * phi[i, jm, k] + ay1 * phi[i, j, k] + ay2 * phi[i, jp, k] + ay3 * phi[i, jp2, k])
          + ux * dz * (ay0 * phi[i, jm, kp] + ay1 * phi[i, j, kp] + ay2 * phi[i, jp, kp] + ay3 * phi[i, jp2, kp])
          + dx * uz * (ay0 * phi[ip, jm, k] + ay1 * phi[ip, j, k] + ay2 * phi[ip, jp, k] + ay3 * phi[ip, jp2, k])
          + dx * dz * (ay0 * phi[ip, jm, kp] + ay1 * phi[ip, j, kp] + ay2 * phi[ip, jp, kp] + ay3 * phi[ip, jp2, kp]))
    gz = (ux * uy * (az0 * phi[i, j, km] + az1 * phi[i, j, k] + az2 * phi[i, j, kp] + az3 * phi[i, j, kp2])
          + ux * dy * (az0 * phi[i, jp, km] + az1 * phi[i, jp, k] + az2 * phi[i, jp, kp] + az3 * phi[i, jp, kp2])
          + dx * uy * (az0 * phi[ip, j, km] + az1 * phi[ip, j, k] + az2 * phi[ip, j, kp] + az3 * phi[ip, j, kp2])
          + dx * dy * (az0 * phi[ip, jp, km] + az1 * phi[ip, jp, k] + az2 * phi[ip, jp, kp] + az3 * phi[ip, jp, kp2]))
    return gx * inv_h, gy * inv_h, gz * inv_h


@nb.njit(parallel=True, cache=True)
def _gradient_at(phi, pos, inv_h, out):
    m = phi.shape[0]
    for p in nb.prange(pos.shape[0]):
        gx, gy, gz = _grad3(phi, pos[p, 0], pos[p, 1], pos[p, 2], inv_h, m)
        out[p, 0] = gx
        out[p, 1] = gy
        out[p, 2] = gz


def gradient_at(phi: np.ndarray, pos: np.ndarray, box: float) -> np.ndarray:
    """grad phi at particle positions, (n, 3) float32 [Mpc/h] (pyCOLA's scheme).

    Parameters
    ----------
    phi : (m, m, m) float32  Potential [(Mpc/h)^2] at mesh points (i, j, k) box / m.
    pos : (n, 3) float32  Positions [Mpc/h].
    box : float  Box side [Mpc/h].

    Notes
    -----
    With d the particle's offset from mesh point i along ``axis`` (in cells), the derivative is
    [c_-1 phi_{i-1} + c_0 phi_i + c_1 phi_{i+1} + c_2 phi_{i+2}] / h with
    c_-1 = (-2 - 3d(d - 2)) / 6, c_0 = (-3 - 12d + 9d^2) / 6, c_1 = (6 + 6d - 9d^2) / 6,
    c_2 = (3d^2 - 1) / 6 (derivative of the cubic through the 4 points), weighted bilinearly
    (CIC) over the 2 x 2 neighbouring lines along the other axes. Error O(h^3).
    """
    m = phi.shape[0]
    if phi.shape != (m, m, m) or phi.dtype != np.float32:
        raise ValueError(f"phi must be a float32 cube, got {phi.dtype} {phi.shape}")
    if pos.ndim != 2 or pos.shape[1] != 3 or pos.dtype != np.float32:
        raise ValueError(f"positions must be float32 with shape (n, 3), got {pos.dtype} {pos.shape}")
    out = np.empty(pos.shape, dtype=np.float32)
    _gradient_at(phi, pos, np.float32(m / box), out)
    return out
