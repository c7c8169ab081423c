"""Synthetic particle sets for tests and benchmarks (NOT the pipeline's physics).

The pipeline's snapshots come from the COLA stage. To test and benchmark voxelization and the
record format without it, `zeldovich_positions` moves a particle lattice by a Zel'dovich
displacement of a Gaussian field with a BBKS-shaped spectrum: shell crossing makes clustered,
over-dense filaments and empty voids like a z ~ 0 field at a few Mpc/h resolution.
"""
from __future__ import annotations

import numpy as np
import scipy.fft


def zeldovich_positions(n_side: int, box: float, rms_displacement: float = 6.0,
                        seed: int = 0, workers: int = 2) -> np.ndarray:
    """Lattice of n_side^3 particles displaced by a Zel'dovich field, wrapped into [0, L).

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
    positions : ndarray (n_side^3, 3) float32 [Mpc/h] in Lagrangian (lattice) order.
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
    q0 = (np.arange(n) + 0.5) * (box / n)
    disp = []
    for kk in (kx, ky, kz):
        psi = scipy.fft.irfftn(1j * kk * inv_k2 * delta_k, s=(n, n, n), workers=workers)
        disp.append(psi)
    scale = rms_displacement / np.sqrt(np.mean([np.mean(d ** 2) for d in disp]))
    grid = np.meshgrid(q0, q0, q0, indexing="ij")
    pos = np.stack([(g + scale * d).ravel() for g, d in zip(grid, disp)], axis=1)
    return np.mod(pos, box).astype(np.float32)
