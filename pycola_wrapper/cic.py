"""Cloud-in-cell (CIC) mass assignment and interpolation on a periodic cubic mesh.

Conventions: mesh point (i, j, k) sits at (i, j, k) * h with h = box / M (M cells per side);
a particle at x gives weights (1 - w, w) to points floor(x / h) and floor(x / h) + 1 (mod M)
along each axis, w = x / h - floor(x / h). ``paint`` and ``read`` are adjoint:
sum(read(f, x)) == sum(f * paint(x)) for any field f.

Determinism: ``paint`` is bitwise identical whatever the number of numba threads. Particles
are bucketed (stable counting sort, in parallel over fixed Lagrangian chunks) into blocks of
mesh planes along axis 0; even blocks are painted in parallel, then odd blocks. A block
writes only its own planes plus the first plane of the next block, so no two threads touch
the same plane at once, and every plane receives its contributions in one fixed order (block
order, then particle index order), independent of the thread count.

Units: positions and box in [Mpc/h]; the painted mesh counts particles (mass 1 each).
"""
from __future__ import annotations

import numba as nb
import numpy as np

MIN_PLANES_PER_BLOCK = 2  # a block writes planes [start, end]: 2 planes keep even blocks apart


@nb.njit(inline="always")
def _wrap_index(i: int, m: int) -> int:
    if i >= m:
        return i - m
    if i < 0:
        return i + m
    return i


@nb.njit(inline="always")
def _split(x: float, inv_h: float, m: int):
    """Lower mesh index (in [0, m)) and weight of the upper point for one coordinate."""
    u = x * inv_h
    fi = np.floor(u)
    w = np.float32(u - fi)
    i = int(fi)
    if i < 0 or i >= m:  # positions outside [0, box): rare, full modulo
        i = i % m
    return i, w


def _block_bounds(m: int) -> np.ndarray:
    """Plane boundaries of an even number of blocks (>= 2 planes each) along axis 0."""
    if m < 2 * MIN_PLANES_PER_BLOCK:
        return np.array([0, m], dtype=np.int64)
    nblocks = max(2, min(m // MIN_PLANES_PER_BLOCK, 4096))
    nblocks -= nblocks % 2
    return np.linspace(0, m, nblocks + 1).astype(np.int64)


@nb.njit(parallel=True, cache=True)
def _count(pos, plane_block, inv_h, m, nchunks, nblocks):
    n = pos.shape[0]
    counts = np.zeros((nchunks, nblocks), dtype=np.int64)
    chunk = (n + nchunks - 1) // nchunks
    for c in nb.prange(nchunks):
        for p in range(c * chunk, min(n, (c + 1) * chunk)):
            i, _ = _split(pos[p, 0], inv_h, m)
            counts[c, plane_block[i]] += 1
    return counts


@nb.njit(parallel=True, cache=True)
def _scatter(pos, plane_block, inv_h, m, offsets, order):
    n = pos.shape[0]
    nchunks = offsets.shape[0]
    chunk = (n + nchunks - 1) // nchunks
    for c in nb.prange(nchunks):
        off = offsets[c].copy()
        for p in range(c * chunk, min(n, (c + 1) * chunk)):
            i, _ = _split(pos[p, 0], inv_h, m)
            b = plane_block[i]
            order[off[b]] = p
            off[b] += 1


@nb.njit(inline="always")
def _cell(x, y, z, inv_h, m):
    """The CIC cell of one position: lower indices (i, j, k), upper ones wrapped (i1, j1, k1),
    upper weights (wx, wy, wz) and lower weights (ux, uy, uz) = 1 - upper."""
    i, wx = _split(x, inv_h, m)
    j, wy = _split(y, inv_h, m)
    k, wz = _split(z, inv_h, m)
    one = np.float32(1.0)
    return (i, j, k, _wrap_index(i + 1, m), _wrap_index(j + 1, m), _wrap_index(k + 1, m),
            wx, wy, wz, one - wx, one - wy, one - wz)


@nb.njit(inline="always")
def _paint_one(mesh, x, y, z, inv_h, m, mass):
    i, j, k, i1, j1, k1, wx, wy, wz, ux, uy, uz = _cell(x, y, z, inv_h, m)
    mesh[i, j, k] += mass * ux * uy * uz
    mesh[i, j, k1] += mass * ux * uy * wz
    mesh[i, j1, k] += mass * ux * wy * uz
    mesh[i, j1, k1] += mass * ux * wy * wz
    mesh[i1, j, k] += mass * wx * uy * uz
    mesh[i1, j, k1] += mass * wx * uy * wz
    mesh[i1, j1, k] += mass * wx * wy * uz
    mesh[i1, j1, k1] += mass * wx * wy * wz


@nb.njit(parallel=True, cache=True)
def _paint_blocks(mesh, pos, order, starts, parity, inv_h, mass):
    m = mesh.shape[0]
    nblocks = starts.shape[0] - 1
    nb_half = (nblocks - parity + 1) // 2
    for t in nb.prange(nb_half):
        b = 2 * t + parity
        for s in range(starts[b], starts[b + 1]):
            p = order[s]
            _paint_one(mesh, pos[p, 0], pos[p, 1], pos[p, 2], inv_h, m, mass)


@nb.njit(cache=True)
def _paint_serial(mesh, pos, inv_h, mass):
    m = mesh.shape[0]
    for p in range(pos.shape[0]):
        _paint_one(mesh, pos[p, 0], pos[p, 1], pos[p, 2], inv_h, m, mass)


class Painter:
    """Reusable deterministic CIC painter (keeps its sort buffer between calls).

    Parameters
    ----------
    n_particles : int  Number of particles painted per call.
    m : int  Mesh cells per side.
    box : float  Box side [Mpc/h].
    """

    def __init__(self, n_particles: int, m: int, box: float) -> None:
        self.m = int(m)
        self.box = float(box)
        self.bounds = _block_bounds(self.m)
        nblocks = len(self.bounds) - 1
        self.plane_block = np.repeat(np.arange(nblocks, dtype=np.int64), np.diff(self.bounds))
        self.nchunks = 64  # fixed, so that the bucket order never depends on the thread count
        itype = np.int32 if n_particles < 2**31 - 1 else np.int64
        self.order = np.empty(n_particles, dtype=itype)

    @property
    def nbytes(self) -> int:
        return self.order.nbytes

    def paint(self, pos: np.ndarray, out: np.ndarray | None = None, mass: float = 1.0) -> np.ndarray:
        """Add particles (mass ``mass`` each) to ``out`` (zeroed new mesh if None); returns it."""
        pos = _check_positions(pos)
        if pos.shape[0] != self.order.shape[0]:
            raise ValueError(f"Painter built for {self.order.shape[0]} particles, got {pos.shape[0]}")
        m = self.m
        if out is None:
            out = np.zeros((m, m, m), dtype=np.float32)
        elif out.shape != (m, m, m) or out.dtype != np.float32:
            raise ValueError(f"out must be a float32 ({m}, {m}, {m}) mesh, got {out.dtype} {out.shape}")
        inv_h = np.float32(m / self.box)
        mass = np.float32(mass)
        nblocks = len(self.bounds) - 1
        if nblocks == 1:
            _paint_serial(out, pos, inv_h, mass)
            return out
        counts = _count(pos, self.plane_block, inv_h, m, self.nchunks, nblocks)
        # offsets[c, b] = start of chunk c's particles inside block b (stable: block, then chunk)
        per_block = counts.sum(axis=0)
        starts = np.zeros(nblocks + 1, dtype=np.int64)
        np.cumsum(per_block, out=starts[1:])
        within = np.cumsum(counts, axis=0) - counts
        offsets = starts[:-1][None, :] + within
        _scatter(pos, self.plane_block, inv_h, m, offsets, self.order)
        _paint_blocks(out, pos, self.order, starts, 0, inv_h, mass)
        _paint_blocks(out, pos, self.order, starts, 1, inv_h, mass)
        return out


def _check_positions(pos: np.ndarray) -> np.ndarray:
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"positions must have shape (n, 3), got {pos.shape}")
    if pos.dtype != np.float32:
        raise ValueError(f"positions must be float32, got {pos.dtype}")
    return pos


def paint(pos: np.ndarray, m: int, box: float, mass: float = 1.0) -> np.ndarray:
    """CIC-paint particles onto a new (m, m, m) float32 mesh (particle counts per mesh point).

    Parameters
    ----------
    pos : (n, 3) float32  Positions [Mpc/h] (any real value: wrapped periodically).
    m : int  Mesh cells per side.
    box : float  Box side [Mpc/h].
    mass : float  Mass of each particle (1: the mesh sums to n).
    """
    return Painter(pos.shape[0], m, box).paint(pos, mass=mass)


@nb.njit(inline="always")
def _read_one(mesh, x, y, z, inv_h, m):
    i, j, k, i1, j1, k1, wx, wy, wz, ux, uy, uz = _cell(x, y, z, inv_h, m)
    return (mesh[i, j, k] * ux * uy * uz + mesh[i, j, k1] * ux * uy * wz
            + mesh[i, j1, k] * ux * wy * uz + mesh[i, j1, k1] * ux * wy * wz
            + mesh[i1, j, k] * wx * uy * uz + mesh[i1, j, k1] * wx * uy * wz
            + mesh[i1, j1, k] * wx * wy * uz + mesh[i1, j1, k1] * wx * wy * wz)


@nb.njit(parallel=True, cache=True)
def _read(mesh, pos, inv_h, out):
    m = mesh.shape[0]
    for p in nb.prange(pos.shape[0]):
        out[p] = _read_one(mesh, pos[p, 0], pos[p, 1], pos[p, 2], inv_h, m)


def read(mesh: np.ndarray, pos: np.ndarray, box: float) -> np.ndarray:
    """CIC-interpolate a periodic (m, m, m) float32 field at particle positions.

    Parameters
    ----------
    mesh : (m, m, m) float32  Field values at mesh points (i, j, k) * box / m.
    pos : (n, 3) float32  Positions [Mpc/h].
    box : float  Box side [Mpc/h].

    Returns
    -------
    (n,) float32 interpolated values.
    """
    pos = _check_positions(pos)
    m = mesh.shape[0]
    if mesh.shape != (m, m, m) or mesh.dtype != np.float32:
        raise ValueError(f"mesh must be a float32 cube, got {mesh.dtype} {mesh.shape}")
    out = np.empty(pos.shape[0], dtype=np.float32)
    _read(mesh, pos, np.float32(m / box), out)
    return out
