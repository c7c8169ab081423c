"""What a trained network expects of its input, and the checks that an input meets it.

A network trained by this pipeline reads samples of S^3 voxels of side ``voxel_size`` [Mpc/h]
with C channels: one snapshot per channel (the config's ``cola.redshifts`` in config order when
``tfrecords.redshift_channels`` stacks them; else one channel, a sample at any one of the
training redshifts), holding particle counts at the training mean count per voxel. Every check
raises ValueError naming the input and both the expected and the found value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Redshifts closer than this are the same snapshot (the TFRecords writer keeps z to 1e-6;
#: file names to 0.01).
Z_TOL = 1e-4
#: Relative tolerance on voxel sides [Mpc/h] (float32 vs float64 box sides).
VOXEL_RTOL = 1e-6


@dataclass(frozen=True)
class Expected:
    """The input geometry a trained network expects.

    Attributes
    ----------
    voxel_size : float
        Voxel side [Mpc/h] (``simulation.box / voxels.n_voxels`` of the training data).
    sample_side : int
        Voxels per side S of one sample.
    n_channels : int
        Channels C of a sample (last axis).
    channel_redshifts : tuple of float or None
        Redshift of each channel, in order, when the channels stack snapshots; None for one
        channel holding a snapshot at any of ``redshifts``.
    redshifts : tuple of float
        Every redshift of the training samples.
    mean_count : float
        Mean particle count per voxel of the training boxes (N / V^3).
    """

    voxel_size: float
    sample_side: int
    n_channels: int
    channel_redshifts: tuple[float, ...] | None
    redshifts: tuple[float, ...]
    mean_count: float

    def __post_init__(self):
        if not (self.voxel_size > 0 and math.isfinite(self.voxel_size)):
            raise ValueError(f"voxel_size {self.voxel_size} [Mpc/h] must be finite and > 0")
        if self.sample_side < 1 or self.n_channels < 1:
            raise ValueError(f"sample_side {self.sample_side} and n_channels {self.n_channels} "
                             "must be >= 1")
        if self.channel_redshifts is not None and len(self.channel_redshifts) != self.n_channels:
            raise ValueError(f"channel_redshifts {self.channel_redshifts}: expected "
                             f"{self.n_channels} values")

    def describe(self) -> str:
        """One line: the expected geometry (used in error messages and logs)."""
        return (f"{self.sample_side}^3 samples of {self.voxel_size:g} Mpc/h voxels, "
                f"{self.n_channels} channel(s) at z = {self.channels_text()}, "
                f"a mean count of {self.mean_count:g} per voxel")

    def channels_text(self) -> str:
        """The channel redshifts ("0, 0.5") or, for one channel, the allowed ones ("0 | 0.5")."""
        if self.channel_redshifts is not None:
            return ", ".join(f"{z:g}" for z in self.channel_redshifts)
        return " | ".join(f"{z:g}" for z in self.redshifts)


def expected_from_manifest(manifest: dict, where: str = "manifest") -> Expected:
    """The geometry of a training split's TFRecords manifest (and the config it records).

    The voxel side is ``config.simulation.box / config.voxels.n_voxels`` of the config stored in
    the manifest (the manifest itself has no voxel side). Raises ValueError naming ``where``
    when the manifest lacks what is needed.
    """
    cfg = manifest.get("config") or {}
    try:
        voxel_size = float(cfg["simulation"]["box"]) / int(cfg["voxels"]["n_voxels"])
    except (KeyError, TypeError) as err:
        raise ValueError(f"{where}: no simulation.box / voxels.n_voxels in its config record "
                         f"(missing {err}): the voxel size the network was trained on is "
                         "unknown") from None
    shape = [int(v) for v in manifest["sample_shape"]]
    channels = manifest.get("channels")
    return Expected(voxel_size=voxel_size, sample_side=shape[0], n_channels=shape[3],
                    channel_redshifts=None if channels is None else tuple(map(float, channels)),
                    redshifts=tuple(float(z) for z in manifest["redshifts"]),
                    mean_count=float(manifest["input_stats"]["mean_count"]))


def same_z(a: float, b: float) -> bool:
    """Whether two redshifts name the same snapshot (within `Z_TOL`)."""
    return abs(float(a) - float(b)) <= Z_TOL


def n_voxels_for(box: float, voxel_size: float, where: str) -> int:
    """Voxels per side V of a box histogrammed at ``voxel_size`` [Mpc/h].

    Raises ValueError naming ``where`` when the box [Mpc/h] is not a whole number of voxels.
    """
    v = float(box) / float(voxel_size)
    n = round(v)
    if n < 1 or abs(v - n) > VOXEL_RTOL * v:
        raise ValueError(f"{where}: box {box:g} Mpc/h is not a whole number of the network's "
                         f"{voxel_size:g} Mpc/h voxels (got {v:.6g})")
    return n


def check_voxel_size(got: float, expected: Expected, where: str) -> None:
    """The input's voxel side [Mpc/h] must be the training one."""
    if not abs(float(got) - expected.voxel_size) <= VOXEL_RTOL * expected.voxel_size:
        raise ValueError(f"{where}: voxel size {float(got):g} Mpc/h, the network expects "
                         f"{expected.voxel_size:g} Mpc/h voxels")


def check_grid(shape: tuple[int, ...], expected: Expected, where: str) -> None:
    """A grid (V, V, V, C) must be cubic, a whole number of S^3 samples, with C channels."""
    if len(shape) != 4 or not shape[0] == shape[1] == shape[2]:
        raise ValueError(f"{where}: grid of shape {tuple(shape)}, expected a cube (V, V, V) or "
                         f"(V, V, V, C) cut into {expected.sample_side}^3 samples")
    if shape[0] % expected.sample_side:
        raise ValueError(f"{where}: {shape[0]} voxels per side is not a whole number of the "
                         f"network's {expected.sample_side}^3 samples (sample size "
                         f"{expected.sample_side} voxels expected)")
    if shape[3] != expected.n_channels:
        raise ValueError(f"{where}: {shape[3]} channel(s), the network expects "
                         f"{expected.n_channels} (z = {expected.channels_text()})")


def check_redshifts(got: tuple[float, ...], expected: Expected, where: str) -> None:
    """Channel redshifts: the training channels in order, or one training redshift."""
    got = tuple(float(z) for z in got)
    if expected.channel_redshifts is not None:
        ok = len(got) == len(expected.channel_redshifts) and all(
            same_z(a, b) for a, b in zip(got, expected.channel_redshifts))
    else:
        ok = len(got) == 1 and any(same_z(got[0], z) for z in expected.redshifts)
    if not ok:
        want = (f"channels at z = {expected.channels_text()}" if expected.channel_redshifts
                is not None else f"one channel at one of z = {expected.channels_text()}")
        raise ValueError(f"{where}: redshift(s) {', '.join(f'{z:g}' for z in got)}, the network "
                         f"expects {want}")


def check_mean_count(counts: np.ndarray, expected: Expected, tolerance: float, where: str) -> None:
    """Each channel's mean count per voxel must lie within ``tolerance`` (relative) of the
    training mean (the network reads raw counts: another particle density, or an overdensity
    instead of counts, is another input distribution)."""
    axes = tuple(range(counts.ndim - 1))
    means = np.asarray(counts, np.float64).mean(axis=axes) if counts.size else np.zeros(1)
    off = np.abs(means / expected.mean_count - 1.0)
    if np.any(~np.isfinite(off)) or np.any(off > tolerance):
        raise ValueError(f"{where}: mean count per voxel {', '.join(f'{m:.4g}' for m in means)} "
                         f"(per channel), the network expects a mean count of "
                         f"{expected.mean_count:g} per voxel (within a relative {tolerance:g}: "
                         "particle counts at the training mass resolution)")


def check(grid, expected: Expected, density_tolerance: float) -> None:
    """Every check of one loaded input (`cosmoflow.predict.inputs.Grid`) against ``expected``."""
    where = grid.source
    check_voxel_size(grid.voxel_size, expected, where)
    check_grid(grid.counts.shape, expected, where)
    check_redshifts(grid.redshifts, expected, where)
    check_mean_count(grid.counts, expected, density_tolerance, where)
