"""tf.data reader of the TFRecord samples written by `cosmoflow.data.tfrecord`.

Per epoch: shuffle the file list with a logged seed ([seed, epoch]), lay the files' samples end
to end in that order, and give rank r the r-th of ``world_size`` equal contiguous slices
(shuffle first, shard second: every rank sees samples of many simulations, ranks are disjoint and
together cover the epoch; ``n_samples % world_size`` samples, different ones each epoch, are
left out so that all ranks take the same number of steps). Then: parallel interleave over the
rank's file segments, decode, normalise, optional augmentation by one of the 48 symmetries of
the cube, shuffle buffer, batch, prefetch.

Records are read by a per-file Python iterator that knows the file name and record index, so
a record that fails to read (CRC, truncation) or parse raises `RecordError` naming both; it
hands the still-compressed counts to the tf.data map, which inflates and decodes them in
parallel C++ threads and checks the decoded size (the failing assertion names file and record).
"""
from __future__ import annotations

import itertools
import json
import logging
import os
from pathlib import Path

import numpy as np

from cosmoflow.data.tfrecord import (DTYPES, FORMAT, FORMAT_VERSION, RecordError, channels_for,
                                     decode_example, label_names_for, sha256_file)

__all__ = ["read_manifest", "make_dataset", "channel_standardization", "epoch_plan", "check_manifest_against_config",
           "decode_sample_tf", "decode_counts_tf",
           "SYMMETRIES", "apply_symmetry", "ManifestError"]

log = logging.getLogger("cosmoflow.data")

#: The 48 symmetries of the cube: (axis permutation, flip mask), index = 8 * perm + flips.
SYMMETRIES = [(p, f) for p in itertools.permutations(range(3))
              for f in itertools.product((False, True), repeat=3)]

REQUIRED_KEYS = ("format", "format_version", "compression", "sample_shape", "n_samples",
                 "label_names", "label_norm", "input_stats", "files", "dtypes")


class ManifestError(ValueError):
    """A manifest that is missing, malformed or disagrees with the config or the files."""


def read_manifest(path: str | os.PathLike) -> dict:
    """Load and check a split's manifest.json.

    Parameters
    ----------
    path : manifest.json, or the split folder holding it.

    Returns
    -------
    dict with (among others) label_names, label_norm (offset/scale: y = offset + scale * y_norm),
    sample_shape, n_samples, files, compression, input_stats; plus "dir" (the folder).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found (the dataset is missing or incomplete: "
                            f"the manifest is written last)")
    try:
        m = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ManifestError(f"{path}: not valid JSON ({err})") from err
    missing = [k for k in REQUIRED_KEYS if k not in m]
    if missing:
        raise ManifestError(f"{path}: missing key(s) {missing}")
    if m["format"] != FORMAT or m["format_version"] != FORMAT_VERSION:
        raise ManifestError(f"{path}: format {m['format']!r} v{m['format_version']}, this reader "
                            f"reads {FORMAT!r} v{FORMAT_VERSION}")
    if sum(f["n_samples"] for f in m["files"]) != m["n_samples"]:
        raise ManifestError(f"{path}: file sample counts do not add up to n_samples "
                            f"{m['n_samples']}")
    m["dir"] = str(path.parent)
    m["path"] = str(path)
    return m


def channel_standardization(manifest: dict, input_norm: str) -> tuple[list[float], list[float]]:
    """Per-channel (mean, std) of the normalised input over a split (the training split's are
    what ``data.standardize`` applies): of log1p(counts) for "log1p", of counts / mean count
    for "mean". Raises ManifestError for a manifest written before channel statistics."""
    ch = manifest["input_stats"].get("channels")
    if ch is None:
        raise ManifestError(f"{manifest.get('path', 'manifest')}: no per-channel input "
                            "statistics (written by an older version): rerun the tfrecords stage")
    if input_norm == "log1p":
        return list(ch["log1p_mean"]), list(ch["log1p_std"])
    if input_norm == "mean":
        mc = float(manifest["input_stats"]["mean_count"])
        return [m / mc for m in ch["count_mean"]], [s / mc for s in ch["count_std"]]
    raise ValueError(f"input_norm must be 'log1p' or 'mean', got {input_norm!r}")


def check_manifest_against_config(manifest: dict, config: dict) -> None:
    """Fail at start-up if the config disagrees with the data (both values are shown)."""
    where = manifest.get("path", "manifest")
    S = config.get("model", {}).get("input_size", config.get("voxels", {}).get("subvolume"))
    shape = manifest["sample_shape"]
    checks = [
        ("tfrecords.compression", config.get("tfrecords", {}).get("compression"),
         "compression", manifest["compression"]),
        ("model.input_size (sample shape)", None if S is None else [S, S, S],
         "sample_shape[:3]", shape[:3]),
        ("cosmology (varied parameters = label names)", label_names_for(config["cosmology"])
         if "cosmology" in config else None, "label_names", manifest["label_names"]),
        ("reader count dtypes", list(DTYPES), "dtypes",
         sorted(d for d, n in manifest["dtypes"].items() if n)),
    ]
    if {"tfrecords", "cola"} <= set(config):   # None on both sides: one redshift per sample
        checks.append(("tfrecords.redshift_channels + cola.redshifts (channel redshifts)",
                       channels_for(config) or "none", "channels", manifest.get("channels") or "none"))
    for ckey, cval, mkey, mval in checks:
        if cval is None:
            continue
        if mkey == "dtypes":
            bad = not set(mval) <= set(cval)
        elif mkey == "channels" and isinstance(cval, list) and isinstance(mval, list):
            bad = [float(v) for v in cval] != [float(v) for v in mval]
        elif isinstance(cval, list):
            bad = list(cval) != list(mval)
        else:
            bad = cval != mval
        if bad:
            raise ManifestError(f"config/manifest mismatch: config {ckey} = {cval!r} but "
                                f"{where} {mkey} = {mval!r}")


def _verify_files(manifest: dict, how: str) -> None:
    for f in manifest["files"]:
        p = Path(manifest["dir"]) / f["name"]
        if not p.is_file():
            raise RecordError(f"{p}: record file listed in {manifest['path']} is missing")
        if how in ("size", "sha256") and p.stat().st_size != f["bytes"]:
            raise RecordError(f"{p}: {p.stat().st_size} bytes, manifest says {f['bytes']} "
                              f"(truncated or rewritten)")
        if how == "sha256" and sha256_file(p) != f["sha256"]:
            raise RecordError(f"{p}: sha256 differs from the manifest (corrupted)")


def epoch_plan(manifest: dict, *, rank: int = 0, world_size: int = 1, shuffle: bool = True,
               seed: int = 0, epoch: int = 0) -> list[tuple[str, int, int]]:
    """This rank's (file path, first record, end record) segments for one epoch.

    Files are shuffled with ``numpy.random.default_rng([seed, epoch])`` BEFORE sharding.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} not in [0, world_size={world_size})")
    files = manifest["files"]
    order = (np.random.default_rng([int(seed), int(epoch)]).permutation(len(files))
             if shuffle else np.arange(len(files)))
    per_rank = manifest["n_samples"] // world_size
    lo, hi = rank * per_rank, (rank + 1) * per_rank
    plan, pos = [], 0
    for i in order:
        n = files[i]["n_samples"]
        a, b = max(lo, pos), min(hi, pos + n)
        if a < b:
            plan.append((str(Path(manifest["dir"]) / files[i]["name"]), a - pos, b - pos))
        pos += n
    return plan


def _record_generator(n_labels: int, n_channels: int, compression: str):
    """Generator factory: records [start, stop) of one file, parsed and checked in Python."""
    import tensorflow as tf

    def gen(path, start, stop):
        path = path.decode() if isinstance(path, bytes) else str(path)
        tf_log = tf.get_logger()
        level = tf_log.level
        tf_log.setLevel(logging.ERROR)  # tf_record_iterator's deprecation notice: we need its
        try:                            # per-record errors, which tf.data cannot attribute
            it = tf.compat.v1.io.tf_record_iterator(path)
        except Exception as err:
            raise RecordError(f"{path}: cannot open record file ({err})") from err
        finally:
            tf_log.setLevel(level)
        i = -1
        while True:
            where = f"{path}: record {i + 1}"
            try:
                rec = next(it)
            except StopIteration:
                break
            except Exception as err:  # DataLossError: CRC mismatch, truncated record
                raise RecordError(f"{where}: cannot read ({type(err).__name__}: {err})") from err
            i += 1
            if i < start:
                continue
            if i >= stop:
                return
            d = decode_example(rec, n_labels, n_channels=n_channels, where=where)
            if d["compression"] != compression:
                raise RecordError(f"{where}: compression {d['compression']}, manifest says "
                                  f"{compression}")
            yield (d["x"], DTYPES.index(d["dtype"]), d["shape"], d["y"], d["sim"],
                   d["subvolume"], np.asarray(d["z"], np.float32), where)
        if i + 1 < stop:
            raise RecordError(f"{path}: record {i + 1}: file ends after {i + 1} records, "
                              f"expected at least {stop} (truncated)")

    return gen


def decode_counts_tf(payload, dtype_code, n_voxels: int):
    """Graph decode of an (uncompressed) byte-plane payload -> int64 counts [n_voxels] (exact)."""
    import tensorflow as tf

    raw = tf.cast(tf.io.decode_raw(payload, tf.uint8), tf.int64)

    def planes(k):
        def f():
            p = tf.reshape(raw, [k, n_voxels])
            shifts = tf.constant([8 * j for j in range(k)], tf.int64)[:, None]
            return tf.reduce_sum(tf.bitwise.left_shift(p, shifts), axis=0)
        return f

    code = tf.convert_to_tensor(dtype_code, tf.int32)
    return tf.switch_case(code, [planes(1), planes(2), planes(4)])


def decode_sample_tf(payload, dtype_code, shape, compression: str, where=""):
    """Graph decode of one record's compressed x -> float32 counts of ``shape`` (S, S, S, C).

    Inflates, splits the byte planes and combines them in float32 (exact below 2^24 counts).
    """
    import tensorflow as tf

    S = [int(v) for v in shape]
    n = int(np.prod(S))
    u8 = tf.io.decode_raw(tf.io.decode_compressed(payload, compression), tf.uint8)
    code = tf.convert_to_tensor(dtype_code, tf.int32)
    nbytes = tf.gather(tf.constant([n, 2 * n, 4 * n], tf.int32), code)
    check = tf.debugging.Assert(tf.equal(tf.size(u8), nbytes), [
        where, "decoded x has", tf.size(u8), "bytes, expected", nbytes])

    def branch(k):
        def f():
            with tf.control_dependencies([check]):
                p = tf.reshape(u8, [k] + S)
            if k == 4:   # rare: exact integer sum, then float32
                w = tf.bitwise.left_shift(tf.cast(p, tf.int64), tf.reshape(tf.constant(
                    [0, 8, 16, 24], tf.int64), [4] + [1] * len(S)))
                return tf.cast(tf.reduce_sum(w, axis=0), tf.float32)
            planes = tf.split(p, k, axis=0)          # contiguous planes: cheap
            x = tf.cast(planes[0], tf.float32)
            if k == 2:
                x = x + 256.0 * tf.cast(planes[1], tf.float32)
            return tf.reshape(x, S)
        return f

    return tf.switch_case(code, [branch(1), branch(2), branch(4)])


def apply_symmetry(x, k, first_axis: int = 0):
    """Apply cube symmetry ``k`` (0..47) to axes first_axis..first_axis+2 of x (graph op)."""
    import tensorflow as tf

    perms = tf.constant([p for p, _ in SYMMETRIES], tf.int32) + first_axis
    flips = tf.constant([f for _, f in SYMMETRIES], tf.bool)
    rank = tf.rank(x)
    perm = tf.concat([tf.range(first_axis), perms[k], tf.range(first_axis + 3, rank)], 0)
    x = tf.transpose(x, perm)
    return tf.reverse(x, tf.boolean_mask(tf.range(3), flips[k]) + first_axis)


def make_dataset(manifest_path, *, rank: int = 0, world_size: int = 1, batch_size: int = 1,
                 shuffle: bool = True, augment: bool = False, input_norm: str = "log1p",
                 seed: int = 0, epoch: int = 0, shuffle_buffer: int = 64,
                 config: dict | None = None, verify: str = "size", with_ids: bool = False,
                 parallel_files: int = 2):
    """tf.data.Dataset of one epoch of this rank's samples.

    Parameters
    ----------
    manifest_path : a split's manifest.json (or its folder).
    rank, world_size : this process's MPI rank and the number of ranks.
    batch_size : samples per batch on this rank.
    shuffle : shuffle the file order (seed [seed, epoch], logged) and the samples (buffer).
    augment : apply a random one of the 48 cube symmetries to each sample (labels unchanged).
    input_norm : "log1p" (log(1 + x), MLPerf) or "mean" (x / mean count, the original).
    seed, epoch : the shuffle and augmentation seeds derive from (seed, epoch, rank).
    shuffle_buffer : samples in the shuffle buffer (config data.shuffle_buffer).
    config : the pipeline config; if given, it must agree with the manifest (else ManifestError
        showing both values).
    verify : "none" | "size" (default: every file present with the manifest's size) | "sha256".
    with_ids : also yield a dict of sim, subvolume, z (for evaluation).
    parallel_files : files read concurrently by the interleave.

    Returns
    -------
    tf.data.Dataset of (x float32 [B, S, S, S, C], y float32 [B, n_labels] normalised labels)
    (+ ids if with_ids: sim, subvolume, z [C]).
    """
    import tensorflow as tf

    m = read_manifest(manifest_path)
    if config is not None:
        check_manifest_against_config(m, config)
    if input_norm not in ("log1p", "mean"):
        raise ValueError(f"input_norm must be 'log1p' or 'mean', got {input_norm!r}")
    if verify not in ("none", "size", "sha256"):
        raise ValueError(f"verify must be none, size or sha256, got {verify!r}")
    _verify_files(m, verify)
    plan = epoch_plan(m, rank=rank, world_size=world_size, shuffle=shuffle, seed=seed,
                      epoch=epoch)
    n_mine = sum(b - a for _, a, b in plan)
    log.info("data %s: epoch %d file-order seed [%d, %d] (shuffle=%s), rank %d/%d: %d of %d "
             "samples from %d file segment(s)", m["path"], epoch, seed, epoch, shuffle, rank,
             world_size, n_mine, m["n_samples"], len(plan))
    if m["n_samples"] % world_size:
        log.warning("data %s: %d samples do not split evenly over %d ranks: %d left out this "
                    "epoch (different ones each epoch)", m["path"], m["n_samples"], world_size,
                    m["n_samples"] % world_size)
    if n_mine == 0:
        raise ValueError(f"{m['path']}: {m['n_samples']} samples cannot feed {world_size} ranks")

    S = tuple(int(s) for s in m["sample_shape"])
    n_labels = len(m["label_names"])
    offset = tf.constant(m["label_norm"]["offset"], tf.float32)
    scale = tf.constant(m["label_norm"]["scale"], tf.float32)
    mean_count = float(m["input_stats"]["mean_count"])
    gen = _record_generator(n_labels, S[3], m["compression"])
    sig = (tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.int32), tf.TensorSpec([4], tf.int64),
           tf.TensorSpec([n_labels], tf.float32), tf.TensorSpec([], tf.int64),
           tf.TensorSpec([], tf.int64), tf.TensorSpec([S[3]], tf.float32),
           tf.TensorSpec([], tf.string))

    segs = tf.data.Dataset.from_tensor_slices(
        ([p for p, _, _ in plan], [a for _, a, _ in plan], [b for _, _, b in plan]))
    ds = segs.interleave(
        lambda p, a, b: tf.data.Dataset.from_generator(gen, output_signature=sig,
                                                       args=(p, a, b)),
        cycle_length=max(1, min(parallel_files, len(plan))), block_length=1,
        num_parallel_calls=max(1, min(parallel_files, len(plan))), deterministic=True)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=_mix(seed, epoch, rank, 1),
                        reshuffle_each_iteration=False)
    aug_seed = _mix(seed, epoch, rank, 2)

    def decode(i, rec):
        payload, code, shape, y, sim, sub, z, where = rec
        check = tf.debugging.Assert(tf.reduce_all(tf.equal(shape, tf.constant(S, tf.int64))),
                                    [where, "shape", shape, "differs from the manifest's", S])
        with tf.control_dependencies([check]):
            x = decode_sample_tf(payload, code, S, m["compression"], where)
        x = tf.math.log1p(x) if input_norm == "log1p" else x / mean_count
        if augment:
            k = tf.random.stateless_uniform([], seed=[aug_seed, i], maxval=48, dtype=tf.int32)
            x = apply_symmetry(x, k)
        y = (y - offset) / scale
        if with_ids:
            return x, y, {"sim": sim, "subvolume": sub, "z": z}
        return x, y

    ds = ds.enumerate().map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _mix(*ints: int) -> int:
    """A 31-bit seed derived from integers (stable across runs)."""
    return int(np.random.SeedSequence([int(v) for v in ints]).generate_state(1)[0] >> 1)
