"""Particle-mesh gravity on a periodic cubic mesh: Poisson solve and gradient.

Choices (the same as pyCOLA, so that the two engines differ only by round-off and ordering):
- Poisson: phi_k = -delta_k / k^2 with the continuous k = 2 pi n / box (Green's function
  -1/k^2), DC mode set to 0, so lap phi = delta. No CIC window deconvolution.
- Gradient: 4-point finite differences evaluated at each particle (``gradient_at``): by
  default the centred O(h^4) difference at the 8 CIC mesh points (momentum conserving); or
  pyCOLA's one-sided cubic derivative (for parity runs). One inverse FFT per step (a spectral
  i k needs three) and no gradient mesh in memory: gradient and interpolation are one fused
  pass over the particles.
scipy.fft real transforms (float32 in, complex64 out) with ``workers`` threads; their result
does not depend on ``workers``.
Units: box [Mpc/h], k [h/Mpc], delta dimensionless, phi [(Mpc/h)^2], grad phi [Mpc/h].
"""
from __future__ import annotations

import numba as nb
import numpy as np
import scipy.fft as sfft

from .cic import _split
from .cic import _wrap_index as _wi  # wrap within one period of [0, m)


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
    i, dx = _split(x, inv_h, m)
    j, dy = _split(y, inv_h, m)
    k, dz = _split(z, inv_h, m)
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


@nb.njit(inline="always")
def _d2(f0, f1, f2, f3, f4, f5, w0, w1):
    """w0 * D(i) + w1 * D(i+1) for samples f0..f5 at i-2 .. i+3, D = 8 (f+1 - f-1) - (f+2 - f-2)."""
    eight = np.float32(8.0)
    return (w0 * (eight * (f3 - f1) - (f4 - f0))
            + w1 * (eight * (f4 - f2) - (f5 - f1)))


@nb.njit(inline="always")
def _grad3_central(phi, x, y, z, inv_h, m):
    """(d phi/dx, d phi/dy, d phi/dz) at one position: the centred 4-point difference
    [8 (phi_{+1} - phi_{-1}) - (phi_{+2} - phi_{-2})] / (12 h) at the 8 CIC mesh points around
    it, CIC-weighted (the same as differencing on the mesh, then ``cic.read``): 72 loads."""
    i, dx = _split(x, inv_h, m)
    j, dy = _split(y, inv_h, m)
    k, dz = _split(z, inv_h, m)
    one = np.float32(1.0)
    ux, uy, uz = one - dx, one - dy, one - dz
    i0, i1, i3, i4, i5 = _wi(i - 2, m), _wi(i - 1, m), _wi(i + 1, m), _wi(i + 2, m), _wi(i + 3, m)
    j0, j1, j3, j4, j5 = _wi(j - 2, m), _wi(j - 1, m), _wi(j + 1, m), _wi(j + 2, m), _wi(j + 3, m)
    k0, k1, k3, k4, k5 = _wi(k - 2, m), _wi(k - 1, m), _wi(k + 1, m), _wi(k + 2, m), _wi(k + 3, m)
    # x-derivative on the 4 lines (j or j+1, k or k+1)
    gx = (uy * uz * _d2(phi[i0, j, k], phi[i1, j, k], phi[i, j, k], phi[i3, j, k], phi[i4, j, k], phi[i5, j, k], ux, dx)
          + uy * dz * _d2(phi[i0, j, k3], phi[i1, j, k3], phi[i, j, k3], phi[i3, j, k3], phi[i4, j, k3], phi[i5, j, k3], ux, dx)
          + dy * uz * _d2(phi[i0, j3, k], phi[i1, j3, k], phi[i, j3, k], phi[i3, j3, k], phi[i4, j3, k], phi[i5, j3, k], ux, dx)
          + dy * dz * _d2(phi[i0, j3, k3], phi[i1, j3, k3], phi[i, j3, k3], phi[i3, j3, k3], phi[i4, j3, k3], phi[i5, j3, k3], ux, dx))
    gy = (ux * uz * _d2(phi[i, j0, k], phi[i, j1, k], phi[i, j, k], phi[i, j3, k], phi[i, j4, k], phi[i, j5, k], uy, dy)
          + ux * dz * _d2(phi[i, j0, k3], phi[i, j1, k3], phi[i, j, k3], phi[i, j3, k3], phi[i, j4, k3], phi[i, j5, k3], uy, dy)
          + dx * uz * _d2(phi[i3, j0, k], phi[i3, j1, k], phi[i3, j, k], phi[i3, j3, k], phi[i3, j4, k], phi[i3, j5, k], uy, dy)
          + dx * dz * _d2(phi[i3, j0, k3], phi[i3, j1, k3], phi[i3, j, k3], phi[i3, j3, k3], phi[i3, j4, k3], phi[i3, j5, k3], uy, dy))
    gz = (ux * uy * _d2(phi[i, j, k0], phi[i, j, k1], phi[i, j, k], phi[i, j, k3], phi[i, j, k4], phi[i, j, k5], uz, dz)
          + ux * dy * _d2(phi[i, j3, k0], phi[i, j3, k1], phi[i, j3, k], phi[i, j3, k3], phi[i, j3, k4], phi[i, j3, k5], uz, dz)
          + dx * uy * _d2(phi[i3, j, k0], phi[i3, j, k1], phi[i3, j, k], phi[i3, j, k3], phi[i3, j, k4], phi[i3, j, k5], uz, dz)
          + dx * dy * _d2(phi[i3, j3, k0], phi[i3, j3, k1], phi[i3, j3, k], phi[i3, j3, k3], phi[i3, j3, k4], phi[i3, j3, k5], uz, dz))
    s = inv_h / np.float32(12.0)
    return gx * s, gy * s, gz * s


@nb.njit(inline="always")
def grad3(phi, x, y, z, inv_h, m, scheme):
    """grad phi at one position: scheme 0 = centred 4-point + CIC, 1 = pyCOLA's."""
    if scheme == 1:
        return _grad3(phi, x, y, z, inv_h, m)
    return _grad3_central(phi, x, y, z, inv_h, m)


GRADIENT_SCHEMES = {"central": 0, "pycola": 1}


@nb.njit(parallel=True, cache=True)
def _gradient_at(phi, pos, inv_h, scheme, out):
    m = phi.shape[0]
    for p in nb.prange(pos.shape[0]):
        gx, gy, gz = grad3(phi, pos[p, 0], pos[p, 1], pos[p, 2], inv_h, m, scheme)
        out[p, 0] = gx
        out[p, 1] = gy
        out[p, 2] = gz


def gradient_at(phi: np.ndarray, pos: np.ndarray, box: float, scheme: str = "central") -> np.ndarray:
    """grad phi at particle positions, (n, 3) float32 [Mpc/h].

    Parameters
    ----------
    phi : (m, m, m) float32  Potential [(Mpc/h)^2] at mesh points (i, j, k) box / m.
    pos : (n, 3) float32  Positions [Mpc/h].
    box : float  Box side [Mpc/h].
    scheme : "central" or "pycola" (see Notes).

    Notes
    -----
    "central" (default): the centred 4-point difference
    [8 (phi_{i+1} - phi_{i-1}) - (phi_{i+2} - phi_{i-2})] / (12 h) (error O(h^4)) at the 8 mesh
    points around the particle, CIC-weighted. With CIC painting it is momentum conserving: the
    paint and read are adjoint and the difference operator is antisymmetric, so the total
    force vanishes to round-off (Newton's third law on the mesh).
    "pycola": pyCOLA's ``grad_phi_engine``: with d the particle's offset from mesh point i
    along the axis (in cells), [c_-1 phi_{i-1} + c_0 phi_i + c_1 phi_{i+1} + c_2 phi_{i+2}] / h,
    c_-1 = (-2 - 3d(d - 2)) / 6, c_0 = (-3 - 12d + 9d^2) / 6, c_1 = (6 + 6d - 9d^2) / 6,
    c_2 = (3d^2 - 1) / 6 (derivative of the cubic through the 4 points), bilinear (CIC)
    weights across. Sharper, but one-sided: the total force is not exactly zero (mean residual
    momentum ~1e-3 of its rms) and it reacts to Nyquist ringing of phi.
    """
    if scheme not in GRADIENT_SCHEMES:
        raise ValueError(f"scheme = {scheme!r}: expected one of {sorted(GRADIENT_SCHEMES)}")
    m = phi.shape[0]
    if phi.shape != (m, m, m) or phi.dtype != np.float32:
        raise ValueError(f"phi must be a float32 cube, got {phi.dtype} {phi.shape}")
    if pos.ndim != 2 or pos.shape[1] != 3 or pos.dtype != np.float32:
        raise ValueError(f"positions must be float32 with shape (n, 3), got {pos.dtype} {pos.shape}")
    out = np.empty(pos.shape, dtype=np.float32)
    _gradient_at(phi, pos, np.float32(m / box), GRADIENT_SCHEMES[scheme], out)
    return out
