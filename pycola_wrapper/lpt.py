"""Lagrangian perturbation theory on a periodic grid: Gaussian modes, Zel'dovich (1LPT), 2LPT.

Conventions (MUSIC / pyCOLA):
- Fourier transforms are scipy.fft real transforms, unnormalised forward (``rfftn``).
- delta_k = FFT(w) sqrt(P(k) / L^3) N^(3/2) for unit white noise w, DC mode = 0, so that
  P(k) = L^3 / N^6 <|delta_k|^2>.
- Psi1_k = i k delta_k / k^2, so delta = -div Psi1 (Nyquist planes of the derivative set to 0).
- phi_k = -delta_k / k^2 (lap phi = delta), S = sum_{i<j} (phi_ii phi_jj - phi_ij^2),
  lap u2 = -S, Psi2 = (3/7) grad u2: Psi2 carries the -3/7 of D2 = -3/7 D1^2, so that
  x = q + D1 Psi1 + D2 Psi2 with D2 > 0 (see ``cosmology.growth_D2``).
Units: box and Psi in [Mpc/h], k in [h/Mpc], P in [(Mpc/h)^3]. Arrays are float32 / complex64.
Results do not depend on ``workers`` (pocketfft threads split independent 1-D transforms).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import scipy.fft as sfft

WORKERS = -1  # all cores by default; every function takes ``workers=``


def white_noise(n: int, seed: int) -> np.ndarray:
    """Unit-variance Gaussian white noise on an n^3 grid (float32, mean removed)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n, n, n), dtype=np.float32)
    w -= w.mean(dtype=np.float64)
    return w


def _int_freqs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer frequencies of the full and of the last (rfft) axis."""
    full = np.fft.fftfreq(n, 1.0 / n).astype(np.int64)
    half = np.arange(n // 2 + 1, dtype=np.int64)
    return full, half


def wavevectors(n: int, box: float, nyquist_zero: bool = False) -> list[np.ndarray]:
    """Broadcastable k_x, k_y, k_z [h/Mpc] for the rfftn layout of an n^3 grid.

    With ``nyquist_zero`` the Nyquist component is set to 0 (for derivatives of real fields).
    """
    full, half = _int_freqs(n)
    kf = 2.0 * np.pi / box
    kx = (full * kf).astype(np.float32)
    kz = (half * kf).astype(np.float32)
    if nyquist_zero and n % 2 == 0:
        kx = kx.copy()
        kz = kz.copy()
        kx[n // 2] = 0.0
        kz[n // 2] = 0.0
    return [kx[:, None, None], kx[None, :, None], kz[None, None, :]]


def k_squared(n: int, box: float) -> np.ndarray:
    """|k|^2 [(h/Mpc)^2] on the rfftn grid (float32), 1 at k = 0 to allow division."""
    kx, ky, kz = wavevectors(n, box)
    k2 = kx**2 + ky**2 + kz**2
    k2[0, 0, 0] = 1.0
    return k2


def linear_delta_k(noise: np.ndarray, box: float, pk: Callable[[np.ndarray], np.ndarray],
                   growth: float = 1.0, workers: int = WORKERS) -> np.ndarray:
    """Linear density modes delta_k (complex64, rfftn layout) from white noise.

    Parameters
    ----------
    noise : (n, n, n) float32  Unit white noise.
    box : float  Box side [Mpc/h].
    pk : callable  P(k) [(Mpc/h)^3] at k [h/Mpc] (vectorised); called once per distinct |k|.
    growth : float  Multiplies the amplitude (D(z) for a field at redshift z).

    Notes
    -----
    |k|^2 takes integer values in units of the fundamental mode, so sqrt(P) is evaluated once
    per distinct integer k^2 and looked up per cell (fast and exact).
    """
    n = noise.shape[0]
    if noise.shape != (n, n, n):
        raise ValueError(f"noise must be a cube, got shape {noise.shape}")
    wk = sfft.rfftn(noise, workers=workers)
    full, half = _int_freqs(n)
    f2 = (full**2).astype(np.int32)
    m2 = (f2[:, None] + f2[None, :])[:, :, None] + (half**2).astype(np.int32)[None, None, :]
    # every integer |m|^2 up to the largest: P is evaluated on ~3 n^2 / 4 values, not n^3
    kvals = np.sqrt(np.arange(1, int(m2.max()) + 1, dtype=np.float64)) * (2.0 * np.pi / box)
    amp = np.zeros(kvals.size + 1, dtype=np.float64)
    amp[1:] = np.sqrt(pk(kvals) / box**3) * n**1.5 * growth
    wk *= amp.astype(np.float32)[m2]
    wk[0, 0, 0] = 0.0
    return wk.astype(np.complex64, copy=False)


def to_real(field_k: np.ndarray, n: int, workers: int = WORKERS, overwrite: bool = False) -> np.ndarray:
    """Inverse real FFT of an rfftn-layout field to an n^3 float32 array.

    With ``overwrite`` the input may be destroyed (saves one copy of the complex field).
    """
    # two passes (complex inverse over axes 0, 1, then c2r along the last axis): the same
    # numbers as irfftn, ~1/3 less work in pocketfft for this layout
    tmp = sfft.ifftn(field_k, axes=(0, 1), workers=workers, overwrite_x=overwrite)
    return sfft.irfft(tmp, n=n, axis=2, workers=workers, overwrite_x=True).astype(np.float32, copy=False)


def _spectral_factor(ks: list[np.ndarray], i: int, j: int | None = None) -> np.ndarray:
    """Small broadcastable factor i k_i (j None) or k_i k_j, in complex64 / float32."""
    if j is None:
        return (1j * ks[i]).astype(np.complex64)
    return (ks[i] * ks[j]).astype(np.float32)


def _apply(scaled: np.ndarray, factor: np.ndarray, buf: np.ndarray, n: int, workers: int) -> np.ndarray:
    """irfftn(scaled * factor) using ``buf`` as the complex work array (one pass, no temporaries)."""
    np.multiply(scaled, factor, out=buf)
    return to_real(buf, n, workers, overwrite=True)


def inverse_laplacian(field_k: np.ndarray, box: float) -> np.ndarray:
    """field_k / k^2 (complex64, rfftn layout), DC mode 0."""
    out = field_k / k_squared(field_k.shape[0], box)
    out[0, 0, 0] = 0.0
    return out.astype(np.complex64, copy=False)


def _gradient_components(pot_k: np.ndarray, box: float, workers: int) -> Iterator[np.ndarray]:
    """Yield irfftn(i k_j pot_k) for j = x, y, z (float32 n^3 each, Nyquist planes zeroed)."""
    n = pot_k.shape[0]
    ks = wavevectors(n, box, nyquist_zero=True)
    buf = np.empty_like(pot_k)
    for i in range(3):
        yield _apply(pot_k, _spectral_factor(ks, i), buf, n, workers)


def zeldovich_components(delta_k: np.ndarray, box: float, workers: int = WORKERS) -> Iterator[np.ndarray]:
    """Yield Psi1_x, Psi1_y, Psi1_z [Mpc/h] one at a time (float32 n^3; see ``zeldovich``)."""
    yield from _gradient_components(inverse_laplacian(delta_k, box), box, workers)


def zeldovich(delta_k: np.ndarray, box: float, workers: int = WORKERS) -> np.ndarray:
    """First-order displacement Psi1 [Mpc/h], shape (3, n, n, n) float32: Psi1_k = i k delta_k / k^2."""
    return _stack(zeldovich_components(delta_k, box, workers), delta_k.shape[0])


def _stack(components: Iterator[np.ndarray], n: int) -> np.ndarray:
    psi = np.empty((3, n, n, n), dtype=np.float32)
    for i, comp in enumerate(components):
        psi[i] = comp
    return psi


def second_order_source(delta_k: np.ndarray, box: float, workers: int = WORKERS) -> np.ndarray:
    """S = sum_{i<j} (phi_ii phi_jj - phi_ij^2) with phi_k = -delta_k / k^2 (float32, n^3).

    phi_ij = k_i k_j delta_k / k^2 in Fourier space; at most three real fields are alive at once.
    """
    n = delta_k.shape[0]
    ks = wavevectors(n, box, nyquist_zero=True)
    scaled = inverse_laplacian(delta_k, box)
    buf = np.empty_like(scaled)

    def phi(i: int, j: int) -> np.ndarray:
        return _apply(scaled, _spectral_factor(ks, i, j), buf, n, workers)

    pxx = phi(0, 0)
    pyy = phi(1, 1)
    S = pxx * pyy
    pxx += pyy                    # pxx + pyy
    del pyy
    pzz = phi(2, 2)
    pxx *= pzz                    # (pxx + pyy) pzz
    S += pxx
    del pxx, pzz
    for i, j in ((0, 1), (0, 2), (1, 2)):
        pij = phi(i, j)
        pij *= pij
        S -= pij
        del pij
    return S


def second_order_components(delta_k: np.ndarray, box: float, workers: int = WORKERS) -> Iterator[np.ndarray]:
    """Yield Psi2_x, Psi2_y, Psi2_z [Mpc/h] one at a time (float32 n^3; see ``second_order``)."""
    S_k = sfft.rfftn(second_order_source(delta_k, box, workers), workers=workers, overwrite_x=True)
    u_k = inverse_laplacian(S_k, box)
    del S_k
    u_k *= np.float32(3.0 / 7.0)
    yield from _gradient_components(u_k, box, workers)


def second_order(delta_k: np.ndarray, box: float, workers: int = WORKERS) -> np.ndarray:
    """Second-order displacement Psi2 = (3/7) grad u2, lap u2 = -S [Mpc/h], (3, n, n, n) float32.

    Psi2_k = (3/7) i k S_k / k^2, so div Psi2 = -(3/7) S; x = q + D1 Psi1 + D2 Psi2 with D2 > 0.
    """
    return _stack(second_order_components(delta_k, box, workers), delta_k.shape[0])
