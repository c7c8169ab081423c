"""Synthetic particle sets for tests and benchmarks (NOT the pipeline's physics).

The pipeline's snapshots come from the COLA stage. To test and benchmark voxelization and the
record format without it, `zeldovich_positions` moves a particle lattice by a Zel'dovich
displacement of a Gaussian field with a BBKS-shaped spectrum: shell crossing makes clustered,
over-dense filaments and empty voids like a z ~ 0 field at a few Mpc/h resolution.
"""
from __future__ import annotations

import numpy as np
import scipy.fft


def zeldovich_displacement(n_side: int, box: float, rms_displacement: float = 6.0,
                           seed: int = 0, workers: int = 2) -> np.ndarray:
    """Zel'dovich displacement field on an n_side^3 lattice, shape (3, n, n, n) float32 [Mpc/h].

    Parameters
    ----------
    n_side : int
        Particles per side.
    box : float
        Box side L [Mpc/h].
    rms_displacement : float
        Root-mean-square displacement per axis [Mpc/h] (~6 Mpc/h for LCDM at z = 0).
    seed : int
        Seed of the white noise.
    workers : int
        Threads of scipy.fft.

    Returns
    -------
    psi : ndarray (3, n_side, n_side, n_side) float32 [Mpc/h]; rms per axis = rms_displacement.
    """
    n = int(n_side)
    rng = np.random.default_rng(seed)
    k1 = 2 * np.pi * scipy.fft.fftfreq(n, d=box / n)           # [h/Mpc]
    kz = 2 * np.pi * scipy.fft.rfftfreq(n, d=box / n)
    kx, ky, kz = np.meshgrid(k1, k1, kz, indexing="ij", sparse=True)
    k2 = kx ** 2 + ky ** 2 + kz ** 2
    k = np.sqrt(k2)
    q = np.where(k > 0, k / 0.21, 1.0)                            # BBKS, Gamma = 0.21
    T = np.log(1 + 2.34 * q) / (2.34 * q) * (
        1 + 3.89 * q + (16.1 * q) ** 2 + (5.46 * q) ** 3 + (6.71 * q) ** 4) ** -0.25
    pk = np.where(k > 0, k * T ** 2, 0.0)
    noise = scipy.fft.rfftn(rng.standard_normal((n, n, n)), workers=workers)
    delta_k = noise * np.sqrt(pk)
    inv_k2 = np.where(k2 > 0, 1.0 / np.where(k2 > 0, k2, 1.0), 0.0)
    disp = np.stack([scipy.fft.irfftn(1j * kk * inv_k2 * delta_k, s=(n, n, n), workers=workers)
                     for kk in (kx, ky, kz)])
    return (disp * (rms_displacement / np.sqrt(np.mean(disp ** 2)))).astype(np.float32)


def zeldovich_positions(n_side: int, box: float, rms_displacement: float = 6.0,
                        seed: int = 0, workers: int = 2) -> np.ndarray:
    """Lattice of n_side^3 particles displaced by `zeldovich_displacement`, wrapped into [0, L).

    Returns
    -------
    positions : ndarray (n_side^3, 3) float32 [Mpc/h] in Lagrangian (lattice) order.
    """
    n = int(n_side)
    disp = zeldovich_displacement(n, box, rms_displacement, seed, workers)
    q0 = (np.arange(n) + 0.5) * (box / n)
    grid = np.meshgrid(q0, q0, q0, indexing="ij")
    pos = np.stack([(g + d).ravel() for g, d in zip(grid, disp)], axis=1)
    return np.mod(pos, box).astype(np.float32)


def lattice_positions(n_side: int, box: float, psi: np.ndarray, seed: int = 0) -> np.ndarray:
    """n_side^3 particles in Lagrangian order: lattice + a coarse displacement field ``psi``
    (3, m, m, m) [Mpc/h] taken at the nearest coarse cell, + uniform jitter of +-1/2 spacing.

    A cheap stand-in for a large snapshot (no n_side^3 FFT), built slab by slab. Not wrapped:
    positions may lie outside [0, L) as in a raw N-body output.
    """
    n, m = int(n_side), psi.shape[1]
    rng = np.random.default_rng(seed)
    d = box / n
    q = (np.arange(n) + 0.5) * d
    c = (np.arange(n) * m) // n
    out = np.empty((n ** 3, 3), np.float32)
    qy, qz = np.meshgrid(q, q, indexing="ij")
    for i in range(n):
        sl = slice(i * n * n, (i + 1) * n * n)
        p = psi[:, c[i]][:, c][:, :, c]                      # (3, n, n)
        jit = rng.uniform(-0.5 * d, 0.5 * d, (3, n * n)).astype(np.float32)
        out[sl, 0] = q[i] + p[0].ravel() + jit[0]
        out[sl, 1] = qy.ravel() + p[1].ravel() + jit[1]
        out[sl, 2] = qz.ravel() + p[2].ravel() + jit[2]
    return out
