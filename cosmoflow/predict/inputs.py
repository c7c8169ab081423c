"""Inputs of ``predict``: files -> count grids (V, V, V, C) with their voxel side and redshifts.

Three kinds, told apart by suffix and content:

- a **voxel file** of the pipeline (``results/voxels/<sim>/z<z>.h5``: ``/counts`` (V, V, V) and
  the attributes ``box`` [Mpc/h], ``n_voxels``, ``z``), or a folder of them (one simulation);
- an HDF5 **particle snapshot**: positions (N, 3) [Mpc/h] in a dataset (default ``positions``),
  the box side given (or its ``box`` attribute) and the redshift given (or its ``z``
  attribute), histogrammed to the network's voxel side with the pipeline's own
  `cosmoflow.data.voxels.histogram_counts`; or a folder of them (one simulation);
- a ``.npy`` **count grid** (V, V, V) or (V, V, V, C), channels last, with its voxel side and
  the redshift of each channel given.

A folder is one input with one channel per snapshot the network reads: for a network of stacked
redshift channels the files at those redshifts, in the network's order; for a one-channel network
one input per file at a training redshift. Files at other redshifts are left out (logged).
Everything else about the grids (voxel side, sample size, channels, redshifts, density) is
checked by `cosmoflow.predict.geometry`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from cosmoflow.data.voxels import histogram_counts, read_voxels, split_subvolumes
from cosmoflow.predict.geometry import Expected, n_voxels_for, same_z

log = logging.getLogger("cosmoflow.predict")

HDF5_SUFFIXES = (".h5", ".hdf5")


@dataclass
class Grid:
    """One input as counts on a grid.

    Attributes
    ----------
    source : str
        The input as the user named it (file or folder), used in messages and in the output.
    counts : ndarray (V, V, V, C)
        Counts per voxel (integers, or non-negative floats for a .npy grid), channels last.
    voxel_size : float
        Voxel side [Mpc/h].
    redshifts : tuple of float
        Redshift of each channel.
    files : tuple of str
        The file of each channel (a .npy grid: the one file).
    """

    source: str
    counts: np.ndarray
    voxel_size: float
    redshifts: tuple[float, ...]
    files: tuple[str, ...]


@dataclass(frozen=True)
class Options:
    """What the files themselves may not say.

    Attributes
    ----------
    voxel_size : float or None
        Voxel side of .npy grids [Mpc/h].
    box : float or None
        Box side of snapshots [Mpc/h] (None: each snapshot's ``box`` attribute).
    positions : str
        Dataset of the particle positions in snapshots, (N, 3) [Mpc/h].
    redshifts : tuple of float or None
        Redshift of each channel of .npy grids, and of a snapshot given as one file (None: its
        ``z`` attribute).
    """

    voxel_size: float | None = None
    box: float | None = None
    positions: str = "positions"
    redshifts: tuple[float, ...] | None = None


def load(path: str | Path, expected: Expected, options: Options = Options()) -> list[Grid]:
    """The grids of one input (one, or one per training redshift for a folder read by a
    one-channel network); raises ValueError / FileNotFoundError naming the input."""
    p = Path(path)
    src = str(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix in HDF5_SUFFIXES and f.is_file())
        if not files:
            raise ValueError(f"{src}: no .h5 / .hdf5 voxel or snapshot files in the folder")
        kinds = {f: hdf5_kind(f, options.positions) for f in files}
        if len(set(kinds.values())) > 1:
            raise ValueError(f"{src}: a folder holds one kind of file, got voxel files and "
                             f"snapshots ({', '.join(f'{f.name}: {k}' for f, k in kinds.items())})")
        kind = kinds[files[0]]
        zs = {f: file_redshift(f, kind, None) for f in files}
        return [_read(src, group, kind, zs, options, expected)
                for group in channel_files(src, zs, expected)]
    if not p.exists():
        raise FileNotFoundError(f"{src}: input not found")
    if p.suffix == ".npy":
        return [read_npy(p, options)]
    if p.suffix not in HDF5_SUFFIXES:
        raise ValueError(f"{src}: unknown input kind (expected a .npy grid, an .h5 / .hdf5 voxel "
                         "file or snapshot, or a folder of them)")
    kind = hdf5_kind(p, options.positions)
    z = file_redshift(p, kind, options.redshifts if kind == "snapshot" else None)
    return [_read(src, [p], kind, {p: z}, options, expected)]


def hdf5_kind(path: Path, positions: str) -> str:
    """"voxels" (a ``/counts`` dataset) or "snapshot" (a ``positions`` dataset)."""
    try:
        with h5py.File(path, "r") as f:
            if "counts" in f:
                return "voxels"
            if positions in f:
                return "snapshot"
            keys = sorted(f.keys())
    except OSError as err:
        raise ValueError(f"{path}: not a readable HDF5 file ({err})") from None
    raise ValueError(f"{path}: neither /counts (a voxel file) nor /{positions} (a snapshot's "
                     f"positions; another dataset name: --positions); found {keys}")


def file_redshift(path: Path, kind: str, given: tuple[float, ...] | None) -> float:
    """A voxel file's or snapshot's redshift: ``given`` (one value) or its ``z`` attribute."""
    if given is not None:
        if len(given) != 1:
            raise ValueError(f"{path}: one snapshot is one channel, got {len(given)} redshifts "
                             f"{list(given)}")
        return float(given[0])
    with h5py.File(path, "r") as f:
        if "z" not in f.attrs:
            hint = " (give it with --redshifts)" if kind == "snapshot" else ""
            raise ValueError(f"{path}: no redshift attribute z{hint}")
        return float(f.attrs["z"])


def channel_files(src: str, zs: dict[Path, float], expected: Expected) -> list[list[Path]]:
    """The files of a folder grouped into the network's inputs (see the module docstring)."""
    def at(z):
        return [f for f, fz in zs.items() if same_z(fz, z)]

    found = ", ".join(f"{z:g}" for z in sorted(zs.values()))
    if expected.channel_redshifts is None:
        groups = [[f] for z in expected.redshifts for f in at(z)]
        if not groups:
            raise ValueError(f"{src}: no file at a training redshift: found z = {found}, the "
                             f"network expects one channel at one of z = {expected.channels_text()}")
    else:
        missing = [z for z in expected.channel_redshifts if len(at(z)) != 1]
        if missing:
            raise ValueError(f"{src}: needs exactly one file at each of the network's channel "
                             f"redshifts z = {expected.channels_text()}; found z = {found} "
                             f"(none or several at z = {', '.join(f'{z:g}' for z in missing)})")
        groups = [[at(z)[0] for z in expected.channel_redshifts]]
    used = {f for g in groups for f in g}
    skipped = [f.name for f in zs if f not in used]
    if skipped:
        log.info("%s: left out (not at a redshift the network reads): %s", src, ", ".join(skipped))
    return groups


def _read(src: str, files: list[Path], kind: str, zs: dict[Path, float], options: Options,
          expected: Expected) -> Grid:
    reader = read_voxel_file if kind == "voxels" else (
        lambda f: read_snapshot(f, expected.voxel_size, options))
    chans = [reader(f) for f in files]
    shapes = {c.shape for c, _ in chans}
    sizes = {round(s, 9) for _, s in chans}
    if len(shapes) > 1 or len(sizes) > 1:
        raise ValueError(f"{src}: files of different grids: "
                         + ", ".join(f"{f.name} {c.shape} of {s:g} Mpc/h" for f, (c, s) in zip(files, chans)))
    counts = np.stack([c for c, _ in chans], axis=-1)
    return Grid(source=src, counts=counts, voxel_size=chans[0][1],
                redshifts=tuple(zs[f] for f in files), files=tuple(map(str, files)))


def read_voxel_file(path: Path) -> tuple[np.ndarray, float]:
    """(counts (V, V, V), voxel side [Mpc/h] = box / n_voxels) of a pipeline voxel file."""
    counts, attrs = read_voxels(path)
    if "box" not in attrs:
        raise ValueError(f"{path}: voxel file without a box attribute [Mpc/h]: its voxel size "
                         "is unknown")
    return counts, float(attrs["box"]) / int(attrs["n_voxels"])


def read_snapshot(path: Path, voxel_size: float, options: Options) -> tuple[np.ndarray, float]:
    """(counts (V, V, V), voxel side [Mpc/h]): the snapshot's particles histogrammed on the
    network's voxels, V = box / voxel_size (the pipeline's voxelize step)."""
    with h5py.File(path, "r") as f:
        d = f[options.positions]
        if d.ndim != 2 or d.shape[1] != 3 or d.dtype.kind != "f":
            raise ValueError(f"{path}: /{options.positions} must be float (N, 3) positions "
                             f"[Mpc/h], got {d.dtype} {d.shape}")
        box = options.box
        if box is None:
            if "box" not in f.attrs:
                raise ValueError(f"{path}: no box attribute: give the box side with --box [Mpc/h]")
            box = float(f.attrs["box"])
        pos = d[...]
    n = n_voxels_for(box, voxel_size, str(path))
    return histogram_counts(pos, float(box), n), float(box) / n


def read_npy(path: Path, options: Options) -> Grid:
    """A .npy grid (V, V, V) or (V, V, V, C) with the given voxel side and channel redshifts."""
    src = str(path)
    if options.voxel_size is None:
        raise ValueError(f"{src}: a .npy grid needs its voxel size (--voxel-size, Mpc/h)")
    if options.redshifts is None:
        raise ValueError(f"{src}: a .npy grid needs the redshift of each channel (--redshifts)")
    try:
        a = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise ValueError(f"{src}: not a plain numeric .npy array ({err})") from None
    if a.ndim == 3:
        a = a[..., None]
    if a.ndim != 4:
        raise ValueError(f"{src}: grid of shape {a.shape}, expected (V, V, V) or (V, V, V, C)")
    if a.dtype.kind not in "uif":
        raise ValueError(f"{src}: counts must be numbers, got dtype {a.dtype}")
    if a.size and (not np.all(np.isfinite(a)) or a.min() < 0):
        raise ValueError(f"{src}: counts must be finite and >= 0 (particle counts per voxel)")
    zs = tuple(float(z) for z in options.redshifts)
    if len(zs) != a.shape[3]:
        raise ValueError(f"{src}: {a.shape[3]} channel(s) but {len(zs)} redshift(s) "
                         f"{list(zs)} given (--redshifts: one per channel)")
    return Grid(source=src, counts=a, voxel_size=float(options.voxel_size), redshifts=zs,
                files=(src,))


def samples(grid: Grid, side: int) -> np.ndarray:
    """The grid cut into its (V/S)^3 samples (n, S, S, S, C), sample k = (i n + j) n + l: the
    pipeline's sub-volume order (`cosmoflow.data.voxels.split_subvolumes`)."""
    return np.stack([split_subvolumes(grid.counts[..., c], side)
                     for c in range(grid.counts.shape[3])], axis=-1)
