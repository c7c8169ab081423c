"""The compiled histogram loop of `cosmoflow.data.voxels.histogram_counts` (numba, parallel).

Its own module so that importing `cosmoflow.data.voxels` does not import numba: a process
that histograms one small snapshot (the per-simulation voxel job) skips numba's start-up
(~1 s), which is most of that job's time.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(inline="always")
def _wrap1(x, L, below_L):
    # wrap_positions for one finite value, in the value's own float type
    w = np.fmod(x, L)
    if w < 0:
        w = w + L
    if w >= L:
        w = below_L
    return w


@numba.njit(inline="always")
def _bin_general(x, edges, inv_dx, V):
    # searchsorted(edges, x, side="right") - 1 for x in [0, L): a float estimate, corrected
    # against numpy's float64 edges (the estimate is off by at most one bin)
    xd = np.float64(x)
    i = min(int(xd * inv_dx), V - 1)
    if xd < edges[i]:
        i -= 1
    elif xd >= edges[i + 1]:
        i += 1
    return i


@numba.njit(inline="always")
def _bin_pow2(x, edges, inv_dx, V):
    # exact when the voxel side is a power of two: x * inv_dx is exact, edges are i * dx
    return min(int(np.float64(x) * inv_dx), V - 1)


@numba.njit(parallel=True, cache=True)
def histogram_kernel(pos, L, below_L, edges, pow2, priv, bad, out):
    n = pos.shape[0]
    n_threads = priv.shape[0]
    V = edges.shape[0] - 1
    inv_dx = V / edges[V]
    chunk = (n + n_threads - 1) // n_threads
    for t in numba.prange(n_threads):
        lo = t * chunk
        hi = min(n, lo + chunk)
        h = priv[t]
        nbad = 0
        for p in range(lo, hi):
            x = pos[p, 0]
            y = pos[p, 1]
            z = pos[p, 2]
            if not (x >= 0 and x < L and y >= 0 and y < L and z >= 0 and z < L):
                if not (np.isfinite(x) and np.isfinite(y) and np.isfinite(z)):
                    nbad += 1
                    continue
                x = _wrap1(x, L, below_L)
                y = _wrap1(y, L, below_L)
                z = _wrap1(z, L, below_L)
            if pow2:
                i = _bin_pow2(x, edges, inv_dx, V)
                j = _bin_pow2(y, edges, inv_dx, V)
                k = _bin_pow2(z, edges, inv_dx, V)
            else:
                i = _bin_general(x, edges, inv_dx, V)
                j = _bin_general(y, edges, inv_dx, V)
                k = _bin_general(z, edges, inv_dx, V)
            h[(i * V + j) * V + k] += 1
        bad[t] = nbad
    m = out.shape[0]
    for v in numba.prange(m):
        s = 0
        for t in range(n_threads):
            s += priv[t, v]
        out[v] = s
