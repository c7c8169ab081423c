"""Particle positions -> voxel counts, and voxel grids <-> sub-volumes.

Pure functions (arrays in, arrays out) plus the two file edges of the stage: reading a COLA
snapshot (``snapshot_z{z:.2f}.hdf5``, dataset ``/positions`` [Mpc/h]) and writing/reading a
voxel file (``voxels/{sim}/z{z:.2f}.h5``, layout in docs/data.md).

The histogram is exactly ``numpy.histogramdd(wrap_positions(pos, L), V, range=((0, L),) * 3)``
(same float64 bin edges, same ``searchsorted(side="right")`` rule), computed by a numba-parallel
loop where each thread fills a private histogram that is summed at the end
(`cosmoflow.data.voxel_kernel`), or for small inputs by numpy in a process that has not loaded
numba (`histogram_counts`, ``engine``): the counts are the same either way.
"""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import h5py
import numpy as np

from cosmoflow.io import atomic_path

__all__ = [
    "wrap_positions",
    "bin_edges",
    "histogram_counts",
    "split_subvolumes",
    "assemble_subvolumes",
    "subvolume_slices",
    "smallest_uint_dtype",
    "read_snapshot",
    "write_voxels",
    "read_voxels",
    "read_subvolume",
    "voxel_file_attrs",
    "atomic_path",
    "voxelize_snapshot",
]

VOXEL_FORMAT_VERSION = 1
SNAPSHOT_REQUIRED_ATTRS = ("box", "z", "Omega_m", "sigma_8", "n_s", "H0")


# --------------------------------------------------------------------------------------------
# pure functions
def _box_in(dtype: np.dtype, box: float) -> np.floating:
    """The box side as represented in the positions' floating dtype."""
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"positions must be a floating array, got dtype {dtype}")
    L = dtype.type(box)
    if not (np.isfinite(L) and L > 0):
        raise ValueError(f"box must be finite and > 0 [Mpc/h], got {box}")
    return L


def wrap_positions(positions: np.ndarray, box: float) -> np.ndarray:
    """Wrap positions periodically into [0, L) in their own floating dtype.

    Parameters
    ----------
    positions : ndarray, float32 or float64, any shape
        Comoving positions [Mpc/h].
    box : float
        Box side L [Mpc/h] (taken in the positions' dtype).

    Returns
    -------
    ndarray, same dtype and shape, every value in [0, L).

    Notes
    -----
    ``w = fmod(x, L)`` (exact), then ``w += L`` where ``w < 0``. That sum can round up to exactly
    L for tiny negative x (e.g. float32 -1e-9 with L = 256); such a particle lies just below the
    upper face, so it is set to the largest representable value below L (the last bin). A particle
    exactly at L (or any multiple) lands at 0, i.e. bin 0. Non-finite positions raise ValueError.
    """
    x = np.asarray(positions)
    L = _box_in(x.dtype, box)
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise ValueError(f"{bad} non-finite position value(s); cannot wrap into [0, {box})")
    w = np.array(x, copy=True)
    out = (w < 0) | (w >= L)            # only these change (fmod is the identity in [0, L))
    v = np.fmod(w[out], L)
    v = np.where(v < 0, v + L, v)
    w[out] = np.where(v >= L, np.nextafter(L, x.dtype.type(0)), v)
    return w


def bin_edges(box: float, n_voxels: int, dtype=np.float32) -> np.ndarray:
    """Bin edges of one axis exactly as numpy.histogramdd builds them (float64 linspace).

    Parameters
    ----------
    box : float
        Box side L [Mpc/h]; used as represented in ``dtype`` (the positions' dtype).
    n_voxels : int
        Voxels per side V.
    """
    L = _box_in(np.dtype(dtype), box)
    return np.linspace(0.0, float(L), int(n_voxels) + 1)


def _pow2_voxels(edges: np.ndarray) -> bool:
    """True if the voxel side is a power of two and the edges are exactly i * side."""
    V = len(edges) - 1
    dx = edges[V] / V
    mant, _ = np.frexp(dx)
    return bool(mant == 0.5 and np.array_equal(edges, np.arange(V + 1) * dx)
                and edges[V] * (V / edges[V]) == V)


NUMPY_MAX_PARTICLES = 2**22
"""engine "auto" histograms at most this many particles with numpy when numba is not loaded."""


def histogram_counts(positions: np.ndarray, box: float, n_voxels: int,
                     threads: int | None = None, engine: str = "auto") -> np.ndarray:
    """Particle counts on a V^3 grid: periodic nearest-grid-point histogram.

    Parameters
    ----------
    positions : ndarray, shape (N, 3), float32 or float64
        Comoving positions [Mpc/h]; need not be wrapped (wrapped as in `wrap_positions`).
    box : float
        Box side L [Mpc/h].
    n_voxels : int
        Voxels per side V; voxel side L / V [Mpc/h].
    threads : int, optional
        Threads of the compiled loop (default: numba's current setting).
    engine : "auto" | "numba" | "numpy"
        "numba": the compiled loop; "numpy": searchsorted + bincount on the wrapped positions;
        "auto": numpy for N <= NUMPY_MAX_PARTICLES when this process has not imported numba
        (numba's start-up, ~1 s, is 5x numpy's time for 128^3 particles), else numba.

    Returns
    -------
    counts : ndarray, shape (V, V, V), uint32 (uint64 if N >= 2**32), axis order (x, y, z).
        Exactly ``numpy.histogramdd(wrap_positions(positions, L), V, range=((0, L),) * 3)[0]``;
        ``counts.sum() == N``; the same for every engine and thread count.

    Notes
    -----
    numba: one pass over the particles, split into one contiguous chunk per thread; each thread
    adds to a private V^3 histogram (no atomics), then the private histograms are summed. The
    bin of x is ``searchsorted(edges, x, "right") - 1`` with numpy's float64 edges; when the voxel
    side is a power of two [Mpc/h] (e.g. 256/128 = 2) this is exactly ``int(x * V / L)``.
    """
    pos = np.asarray(positions)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"positions must have shape (N, 3), got {pos.shape}")
    V = int(n_voxels)
    if V < 1:
        raise ValueError(f"n_voxels must be >= 1, got {n_voxels}")
    if engine not in ("auto", "numba", "numpy"):
        raise ValueError(f"engine must be 'auto', 'numba' or 'numpy', got {engine!r}")
    L = _box_in(pos.dtype, box)
    cnt_dtype = np.uint32 if pos.shape[0] < 2**32 else np.uint64
    if engine == "auto":
        small = pos.shape[0] <= NUMPY_MAX_PARTICLES and "numba" not in sys.modules
        engine = "numpy" if small else "numba"
    if engine == "numpy":
        counts = _histogram_numpy(pos, L, V).astype(cnt_dtype).reshape(V, V, V)
    else:
        counts = _histogram_numba(pos, L, V, threads, cnt_dtype)
    total = int(counts.sum(dtype=np.uint64))
    if total != pos.shape[0]:  # cannot happen unless an engine is wrong: never return bad data
        raise RuntimeError(f"histogram total {total} != number of particles {pos.shape[0]}")
    return counts


def _histogram_numpy(pos: np.ndarray, L: np.floating, V: int) -> np.ndarray:
    """Flat counts (V^3,) of `histogram_counts` by numpy: the bins of the wrapped positions by
    searchsorted on the float64 edges (as numpy.histogramdd), then one bincount."""
    w = wrap_positions(pos, float(L))
    edges = bin_edges(float(L), V, pos.dtype)
    flat = np.zeros(len(w), np.int64)
    for axis in range(3):
        flat *= V
        flat += np.searchsorted(edges, w[:, axis], side="right") - 1
    return np.bincount(flat, minlength=V**3)


def _histogram_numba(pos: np.ndarray, L: np.floating, V: int, threads: int | None,
                     cnt_dtype) -> np.ndarray:
    """(V, V, V) counts of `histogram_counts` by the compiled loop, `threads` private histograms."""
    import numba

    from cosmoflow.data.voxel_kernel import histogram_kernel

    pos = np.ascontiguousarray(pos)
    n_threads = int(threads) if threads else numba.get_num_threads()
    n_threads = max(1, min(n_threads, numba.config.NUMBA_NUM_THREADS))
    priv = np.zeros((n_threads, V ** 3), dtype=cnt_dtype)
    out = np.empty(V ** 3, dtype=cnt_dtype)
    bad = np.zeros(n_threads, dtype=np.int64)
    edges = bin_edges(float(L), V, pos.dtype)
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        histogram_kernel(pos, L, np.nextafter(L, pos.dtype.type(0)), edges, _pow2_voxels(edges),
                         priv, bad, out)
    finally:
        numba.set_num_threads(previous)
    if bad.sum():
        raise ValueError(f"{int(bad.sum())} particle(s) with non-finite positions")
    return out.reshape(V, V, V)


def subvolume_slices(n_voxels: int, subvolume: int) -> list[tuple[slice, slice, slice]]:
    """Slices of the (V/S)^3 sub-volumes; index k = (i * n + j) * n + l, n = V / S."""
    V, S = int(n_voxels), int(subvolume)
    if S < 1 or V % S:
        raise ValueError(f"subvolume {S} must divide n_voxels {V}")
    n = V // S
    return [(slice(i * S, (i + 1) * S), slice(j * S, (j + 1) * S), slice(l * S, (l + 1) * S))
            for i in range(n) for j in range(n) for l in range(n)]


def split_subvolumes(grid: np.ndarray, subvolume: int) -> np.ndarray:
    """Split a V^3 grid into (V/S)^3 cubes of S^3: shape (n^3, S, S, S), k = (i*n + j)*n + l."""
    g = np.asarray(grid)
    V, S = g.shape[0], int(subvolume)
    if g.ndim != 3 or g.shape != (V, V, V):
        raise ValueError(f"grid must be a cube (V, V, V), got {g.shape}")
    if S < 1 or V % S:
        raise ValueError(f"subvolume {S} must divide n_voxels {V}")
    n = V // S
    return np.ascontiguousarray(
        g.reshape(n, S, n, S, n, S).transpose(0, 2, 4, 1, 3, 5).reshape(n ** 3, S, S, S))


def assemble_subvolumes(cubes: np.ndarray) -> np.ndarray:
    """Inverse of `split_subvolumes`: (n^3, S, S, S) -> (nS, nS, nS)."""
    c = np.asarray(cubes)
    if c.ndim != 4 or not (c.shape[1] == c.shape[2] == c.shape[3]):
        raise ValueError(f"cubes must have shape (n^3, S, S, S), got {c.shape}")
    n = round(c.shape[0] ** (1 / 3))
    if n ** 3 != c.shape[0]:
        raise ValueError(f"number of cubes {c.shape[0]} is not a perfect cube")
    S = c.shape[1]
    return np.ascontiguousarray(
        c.reshape(n, n, n, S, S, S).transpose(0, 3, 1, 4, 2, 5).reshape(n * S, n * S, n * S))


def smallest_uint_dtype(max_value: int) -> np.dtype:
    """Smallest of uint8 / uint16 / uint32 that holds ``max_value`` (counts are >= 0)."""
    for dt in (np.uint8, np.uint16, np.uint32):
        if max_value <= np.iinfo(dt).max:
            return np.dtype(dt)
    raise ValueError(f"count {max_value} does not fit in uint32")


# --------------------------------------------------------------------------------------------
# file edges
def read_snapshot(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Read ``/positions`` (N, 3) [Mpc/h] and the root attributes of a COLA snapshot.

    Raises
    ------
    FileNotFoundError, ValueError
        Naming the file and what is missing or wrong (truncated or foreign files).
    """
    path = Path(path)
    with _open_checked(path, "snapshot file", "positions", " (float (N, 3) [Mpc/h])") as f:
        d = f["positions"]
        if d.ndim != 2 or d.shape[1] != 3 or d.dtype.kind != "f":
            raise ValueError(f"{path}: /positions must be float (N, 3), "
                             f"got {d.dtype} {d.shape}")
        attrs = {k: _plain(v) for k, v in f.attrs.items()}
        missing = [k for k in SNAPSHOT_REQUIRED_ATTRS if k not in attrs]
        if missing:
            raise ValueError(f"{path}: missing root attribute(s) {missing}")
        try:
            pos = d[...]
        except OSError as err:
            raise ValueError(f"{path}: cannot read /positions, truncated? ({err})") from err
    if "n_particles" in attrs:
        n_side = int(attrs["n_particles"])
        if n_side ** 3 != pos.shape[0]:
            raise ValueError(f"{path}: /positions has {pos.shape[0]} rows, attribute "
                             f"n_particles={n_side} expects {n_side ** 3}")
    return pos, attrs


def _plain(v):
    """HDF5 attribute -> plain Python value."""
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def voxel_file_attrs(snapshot_attrs: dict, *, sim: str, n_voxels: int, subvolume: int,
                     snapshot: str, n_particles_total: int) -> dict:
    """Attributes stored with a voxel grid (labels and provenance copied from the snapshot).

    Every cosmological parameter the snapshot records is kept (any of them can be a label:
    ``cosmoflow.sampling.SLOTS``); h = H0 / 100 is added when the snapshot has H0 only.
    """
    keep = ("Omega_m", "Omega_L", "Omega_b", "sigma_8", "A_s", "n_s", "H0", "h", "box", "z", "a",
            "n_steps", "engine")
    attrs = {k: snapshot_attrs[k] for k in keep if k in snapshot_attrs}
    if "h" not in attrs and "H0" in attrs:
        attrs["h"] = float(attrs["H0"]) / 100.0
    attrs.update(sim=str(sim), n_voxels=int(n_voxels), subvolume=int(subvolume),
                 n_particles_total=int(n_particles_total), snapshot=str(snapshot),
                 format_version=VOXEL_FORMAT_VERSION)
    return attrs


def write_voxels(path: str | os.PathLike, counts: np.ndarray, attrs: dict) -> None:
    """Write a voxel grid atomically: ``/counts`` (V, V, V) in the smallest uint dtype,
    chunked by sub-volume (attrs["subvolume"]) with shuffle + gzip, plus ``attrs``."""
    counts = np.asarray(counts)
    S = int(attrs["subvolume"])
    if counts.ndim != 3 or len(set(counts.shape)) != 1 or counts.shape[0] % S:
        raise ValueError(f"{path}: counts must be a cube (V, V, V) with V divisible by the "
                         f"subvolume {S}, got {counts.shape}")
    dtype = smallest_uint_dtype(int(counts.max()))
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("counts", data=counts.astype(dtype), chunks=(S, S, S),
                             shuffle=True, compression="gzip", compression_opts=4)
            for k, v in attrs.items():
                f.attrs[k] = v


def read_voxels(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Read ``/counts`` and the attributes of a voxel file (errors name the file)."""
    with _open_voxels(path) as f:
        return f["counts"][...], {k: _plain(v) for k, v in f.attrs.items()}


def read_subvolume(path: str | os.PathLike, index: int) -> tuple[np.ndarray, dict]:
    """Read sub-volume ``index`` (k = (i*n + j)*n + l) of a voxel file and its attributes."""
    with _open_voxels(path) as f:
        attrs = {k: _plain(v) for k, v in f.attrs.items()}
        sl = subvolume_slices(int(attrs["n_voxels"]), int(attrs["subvolume"]))
        if not 0 <= index < len(sl):
            raise IndexError(f"{path}: sub-volume {index} out of range [0, {len(sl)})")
        return f["counts"][sl[index]], attrs


@contextlib.contextmanager
def _open_checked(path, what: str, dataset: str, expected: str = ""):
    """Open an HDF5 file read-only; errors name the file when it is absent, unreadable or
    lacks ``/dataset``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path}: not a readable HDF5 {what} ({err})") from err
    with f:
        if dataset not in f:
            raise ValueError(f"{path}: missing dataset /{dataset}{expected}; found {sorted(f.keys())}")
        yield f


@contextlib.contextmanager
def _open_voxels(path):
    with _open_checked(path, "voxel file", "counts") as f:
        missing = [k for k in ("n_voxels", "subvolume", "sim", "z") if k not in f.attrs]
        if missing:
            raise ValueError(f"{path}: missing attribute(s) {missing}")
        yield f


def voxelize_snapshot(snapshot: str | os.PathLike, out: str | os.PathLike, *, sim: str,
                      n_voxels: int, subvolume: int, threads: int | None = None) -> dict:
    """Snapshot file -> voxel file (counts of its particles on n_voxels^3, box from the
    snapshot's ``box`` attribute [Mpc/h]). Returns the attributes written."""
    pos, attrs = read_snapshot(snapshot)
    if str(attrs.get("sim", sim)).zfill(5) != str(sim).zfill(5):
        raise ValueError(f"{snapshot}: attribute sim={attrs['sim']!r}, expected {sim}")
    counts = histogram_counts(pos, float(attrs["box"]), n_voxels, threads=threads)
    if n_voxels % subvolume:
        raise ValueError(f"voxels.subvolume {subvolume} must divide voxels.n_voxels {n_voxels}")
    out_attrs = voxel_file_attrs(attrs, sim=sim, n_voxels=n_voxels, subvolume=subvolume,
                                 snapshot=str(snapshot), n_particles_total=pos.shape[0])
    write_voxels(out, counts, out_attrs)
    return out_attrs
