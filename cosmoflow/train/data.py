"""Where training samples come from: a ``DataSource`` = one callable per epoch + metadata.

The training loop only calls ``source.make(epoch)`` and reads ``n_samples`` / ``label_names``:
the dataset it returns must yield THIS rank's batches ``(x [B,S,S,S,C] float32, y [B,n]
float32)`` in an order that is a pure function of (seed, epoch), so that a resumed run can
skip the batches it already consumed and see the same data as an uninterrupted run.

Two sources are provided: the TFRecords reader of ``cosmoflow.data.reader`` (imported lazily:
``from_manifest``) and a small synthetic, learnable data set (``synthetic``) for tests and
benchmarks, in the spirit of cosmoflow-benchmark's ``data/dummy.py``.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf


@dataclass
class DataSource:
    """This rank's view of one split.

    Attributes
    ----------
    make : callable
        ``make(epoch) -> tf.data.Dataset`` of this rank's batches for that epoch (the
        TFRecords source's also takes ``with_ids``: a third element, the reader's ids).
    n_samples : int
        Samples in the whole split (all ranks).
    label_names : list of str
        Names of the label columns (the model has ``len(label_names)`` outputs).
    label_norm : dict
        How normalised labels map back to physical values (written beside the model).
    n_channels : int
        Input channels C of x [B, S, S, S, C] (one per redshift when they are stacked).
    channel_stats : (mean, std), lists of C floats
        Per-channel mean and standard deviation of the (normalised) input over the split:
        what ``data.standardize`` applies, taken from the training split.
    make_all : callable, optional
        ``make_all(with_ids=False) -> tf.data.Dataset`` of every sample of the split (all
        ranks'), in file order, not augmented: for statistics over the split that must not
        depend on the number of ranks (``model.power_into: output``); ``with_ids`` adds a
        third element, a dict whose "sim" is each sample's simulation (``model.summary_term``'s
        folds).
    """

    make: Callable[..., tf.data.Dataset]
    n_samples: int
    label_names: list[str]
    label_norm: dict = field(default_factory=dict)
    n_channels: int = 1
    channel_stats: tuple[list[float], list[float]] | None = None
    make_all: Callable[..., tf.data.Dataset] | None = None


def from_manifest(manifest_path: str, *, rank: int, world_size: int, batch_size: int,
                  shuffle: bool, augment: bool, input_norm: str, seed: int,
                  shuffle_buffer: int | None = None) -> DataSource:
    """A ``DataSource`` reading TFRecords through ``cosmoflow.data.reader`` (lazy import).

    ``shuffle_buffer`` (config data.shuffle_buffer) is passed on when the reader accepts it.
    """
    try:
        from cosmoflow.data import reader
    except ImportError as err:  # the reader is another stage's module
        raise ImportError(f"cosmoflow.data.reader is needed to read {manifest_path}: {err}") from err
    meta = reader.read_manifest(manifest_path)
    stats = None
    if meta["input_stats"].get("channels") is not None:
        stats = reader.channel_standardization(meta, input_norm)
    for key in ("label_names", "n_samples"):
        if key not in meta:
            raise KeyError(f"{manifest_path}: manifest has no {key!r}")

    extra = {}
    if shuffle_buffer is not None and \
            "shuffle_buffer" in inspect.signature(reader.make_dataset).parameters:
        extra["shuffle_buffer"] = int(shuffle_buffer)

    def make(epoch: int, with_ids: bool = False) -> tf.data.Dataset:
        return reader.make_dataset(manifest_path, rank=rank, world_size=world_size,
                                   batch_size=batch_size, shuffle=shuffle, augment=augment,
                                   input_norm=input_norm, seed=seed, epoch=epoch,
                                   with_ids=with_ids, **extra)

    def make_all(with_ids: bool = False) -> tf.data.Dataset:
        return reader.make_dataset(manifest_path, rank=0, world_size=1, batch_size=batch_size,
                                   shuffle=False, augment=False, input_norm=input_norm, seed=seed,
                                   with_ids=with_ids)

    return DataSource(make=make, n_samples=int(meta["n_samples"]),
                      label_names=list(meta["label_names"]),
                      label_norm=dict(meta.get("label_norm", {})),
                      n_channels=int(meta["sample_shape"][3]), channel_stats=stats,
                      make_all=make_all)


SYNTHETIC_LABELS = ["mean", "amplitude", "smoothing"]


def synthetic_arrays(n_samples: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable random cubes: labels u in [-1, 1]^3 set the mean, amplitude and smoothing.

    ``x = u0 + (1 + 0.5 u1) [(1 - c) n + c s]`` with white noise n, its 3^3 box-smoothed
    and re-normalised copy s, and c = (u2 + 1) / 2. Deterministic in (n_samples, size, seed).

    Returns
    -------
    x : float32 [n_samples, size, size, size, 1];  y : float32 [n_samples, 3]
    """
    rng = np.random.default_rng(seed)
    y = rng.uniform(-1.0, 1.0, size=(n_samples, 3)).astype(np.float32)
    noise = rng.standard_normal((n_samples, size, size, size)).astype(np.float32)
    smooth = noise.copy()
    for axis in (1, 2, 3):
        smooth = (np.roll(smooth, 1, axis) + smooth + np.roll(smooth, -1, axis)) / 3.0
    smooth /= smooth.std(axis=(1, 2, 3), keepdims=True)
    c = ((y[:, 2] + 1.0) / 2.0)[:, None, None, None]
    x = y[:, 0, None, None, None] + (1.0 + 0.5 * y[:, 1, None, None, None]) * (
        (1.0 - c) * noise + c * smooth)
    return x[..., None].astype(np.float32), y


def shard_indices(n_samples: int, *, rank: int, world_size: int, batch_size: int,
                  shuffle: bool, seed: int, epoch: int) -> list[np.ndarray]:
    """Index batches of one rank: global permutation of (seed, epoch), then each global batch
    of ``world_size * batch_size`` is split by rank. So 2 ranks x batch 1 see, step by step,
    the same samples as 1 rank x batch 2. Without shuffle (validation), rank r gets r::W.
    """
    if shuffle:
        order = np.random.default_rng([seed, epoch]).permutation(n_samples)
        gb = world_size * batch_size
        return [order[s * gb + rank * batch_size: s * gb + (rank + 1) * batch_size]
                for s in range(n_samples // gb)]
    mine = np.arange(rank, n_samples, world_size)
    return [mine[i:i + batch_size] for i in range(0, len(mine), batch_size)]


def synthetic(n_samples: int, size: int, *, rank: int, world_size: int, batch_size: int,
              shuffle: bool, seed: int) -> DataSource:
    """A ``DataSource`` over ``synthetic_arrays`` (held in memory)."""
    x, y = synthetic_arrays(n_samples, size, seed)

    def make(epoch: int) -> tf.data.Dataset:
        batches = shard_indices(n_samples, rank=rank, world_size=world_size,
                                batch_size=batch_size, shuffle=shuffle, seed=seed, epoch=epoch)

        def gen():
            for idx in batches:
                yield x[idx], y[idx]

        sig = (tf.TensorSpec((None, size, size, size, 1), tf.float32),
               tf.TensorSpec((None, 3), tf.float32))
        return tf.data.Dataset.from_generator(gen, output_signature=sig).prefetch(2)

    def make_all(with_ids: bool = False) -> tf.data.Dataset:
        if with_ids:
            raise ValueError("the synthetic data set has no simulations or sub-volumes "
                             "(model.summary_term needs TFRecords of particle counts)")
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)

    return DataSource(make=make, n_samples=n_samples, label_names=list(SYNTHETIC_LABELS),
                      label_norm={"kind": "synthetic", "range": [-1.0, 1.0]},
                      channel_stats=([float(x.mean())], [float(x.std())]), make_all=make_all)
