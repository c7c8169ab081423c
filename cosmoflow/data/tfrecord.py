"""The TFRecord sample format: ONE feature spec, the count codec, the writer, the manifest.

A sample is one S^3 sub-volume of particle counts of one simulation, shape (S, S, S, C): C = 1
(one redshift per sample, the paper) or the C snapshots of `cola.redshifts` as channels, in
config order (``tfrecords.redshift_channels``, MLPerf's layout). Every record is a
``tf.train.Example`` with exactly the features of `FEATURES` (the reader in
`cosmoflow.data.reader` parses with the same table). Layout, compression choice and manifest
keys are documented in docs/data.md ("TFRecords").

Count codec ("byte planes"): counts are stored in the smallest unsigned dtype that holds the
sample's maximum (uint8 / uint16 / uint32, recorded per example in ``dtype``), as ``itemsize``
planes of S^3 bytes, least significant plane first. Splitting the bytes this way puts the
nearly-all-zero high bytes together, which deflate compresses to almost nothing (about 18 %
smaller than plain little-endian uint16 at a mean of 8 counts per voxel). Decoding is exact.

Compression is per feature: ``x`` holds the byte planes compressed as a ZLIB or GZIP stream
(config ``tfrecords.compression``, recorded per example in ``compression`` and in the manifest)
inside an uncompressed TFRecord container. Same size as compressing the whole file (measured:
benchmarks/bench_tfrecords.py), but the reader inflates in its parallel tf.data map (C++
threads) instead of one serial stream per file, reads a record's labels and ids without
inflating anything, starts at any record without inflating the ones before it (sharding), and
the container's per-record CRC pins any on-disk damage to one record of one file.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import zlib
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from cosmoflow.data.tfrecord_io import RecordWriter, example_bytes
from cosmoflow.data.voxels import atomic_path, read_subvolume, smallest_uint_dtype

__all__ = [
    "FEATURES", "DTYPES", "FORMAT", "FORMAT_VERSION", "RecordError",
    "encode_counts", "decode_counts", "encode_example", "decode_example", "tf_parse_spec",
    "label_names_for", "label_norm_for", "normalise_labels", "denormalise_labels",
    "check_disjoint_splits", "plan_files", "record_file_name", "write_split", "sha256_file",
    "compress_payload", "decompress_payload", "example_counts", "write_split_from_config",
    "channels_for",
]

FORMAT = "cosmoflow-tfrecords"
FORMAT_VERSION = 2   # 2: shape (S, S, S, C) and one z per channel

#: Supported count dtypes; the code stored nowhere but used in the reader graph = list index.
DTYPES = ("uint8", "uint16", "uint32")

#: THE feature spec: name -> (kind, length). kind is the tf.train.Feature list type
#: (bytes | int64 | float); length "labels" / "channels": as recorded in the manifest.
FEATURES: dict[str, tuple[str, int | str]] = {
    "x": ("bytes", 1),          # counts: byte planes, compressed (see module docstring)
    "dtype": ("bytes", 1),      # b"uint8" | b"uint16" | b"uint32"
    "compression": ("bytes", 1),  # b"ZLIB" | b"GZIP": the stream format of x
    "shape": ("int64", 4),      # (S, S, S, C), axis order (x, y, z, channel)
    "y": ("float", "labels"),   # physical labels, float32, order = manifest["label_names"]
    "sim": ("int64", 1),        # simulation id (int of the 5-digit id)
    "subvolume": ("int64", 1),  # k = (i * n + j) * n + l, n = n_voxels / subvolume
    "z": ("float", "channels"),  # redshift of each channel's snapshot
}

#: Labels of the default config (the paper's); in general the varied parameters of the config's
#: cosmology section, in `cosmoflow.sampling.SLOTS` order (`label_names_for`).
BASE_LABELS = ("Omega_m", "sigma_8", "n_s")


class RecordError(ValueError):
    """A record or file that cannot be read, parsed or decoded (message names file and record)."""


# --------------------------------------------------------------------------------------------
# count codec
def encode_counts(counts: np.ndarray) -> tuple[bytes, str]:
    """Counts (any integer array >= 0) -> (byte-plane payload, dtype name).

    The dtype is the smallest of `DTYPES` that holds ``counts.max()``.
    """
    c = np.asarray(counts)
    if c.dtype.kind not in "iu":
        raise TypeError(f"counts must be integers, got {c.dtype}")
    if c.size and c.min() < 0:
        raise ValueError(f"counts must be >= 0, got min {c.min()}")
    dt = smallest_uint_dtype(int(c.max()) if c.size else 0).newbyteorder("<")
    planes = c.astype(dt).reshape(-1).view(np.uint8).reshape(-1, dt.itemsize).T
    return np.ascontiguousarray(planes).tobytes(), dt.name


def decode_counts(payload: bytes, dtype: str, shape: Sequence[int]) -> np.ndarray:
    """Inverse of `encode_counts`: byte planes -> array of ``dtype`` and ``shape``."""
    if dtype not in DTYPES:
        raise ValueError(f"count dtype {dtype!r} not one of {DTYPES}")
    dt = np.dtype(dtype).newbyteorder("<")
    n = int(np.prod(shape))
    if len(payload) != n * dt.itemsize:
        raise ValueError(f"payload has {len(payload)} bytes, expected {n} x {dt.itemsize} "
                         f"for {dtype} {tuple(shape)}")
    planes = np.frombuffer(payload, np.uint8).reshape(dt.itemsize, n)
    return np.ascontiguousarray(planes.T).view(dt).reshape(shape).astype(dtype)


COMPRESSIONS = ("GZIP", "ZLIB")


def compress_payload(payload: bytes, compression: str, level: int = 6) -> bytes:
    """Bytes -> a ZLIB (RFC 1950) or GZIP (RFC 1952, mtime 0: reproducible) stream."""
    if compression == "ZLIB":
        return zlib.compress(payload, level)
    if compression == "GZIP":
        return gzip.compress(payload, level, mtime=0)
    raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")


def decompress_payload(data: bytes, compression: str) -> bytes:
    """Inverse of `compress_payload`."""
    if compression == "ZLIB":
        return zlib.decompress(data)
    if compression == "GZIP":
        return gzip.decompress(data)
    raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")


# --------------------------------------------------------------------------------------------
# examples
def encode_example(counts: np.ndarray, labels: Sequence[float], *, sim: int, subvolume: int,
                   z: float | Sequence[float], compression: str = "GZIP", level: int = 6) -> bytes:
    """One sample -> serialized tf.train.Example with exactly the features of `FEATURES`, in
    its order (written by `cosmoflow.data.tfrecord_io`, without TensorFlow).

    ``counts`` is (S, S, S) (one channel) or (S, S, S, C); ``z`` one redshift per channel.
    """
    c = np.asarray(counts)
    if c.ndim == 3:
        c = c[..., None]
    if c.ndim != 4:
        raise ValueError(f"a sample must be (S, S, S) or (S, S, S, C), got shape {c.shape}")
    zs = [float(v) for v in np.atleast_1d(z)]
    if len(zs) != c.shape[3]:
        raise ValueError(f"{c.shape[3]} channel(s) but {len(zs)} redshift(s) {zs}")
    payload, dtype = encode_counts(c)
    values = {"x": [compress_payload(payload, compression, level)], "dtype": [dtype.encode()],
              "compression": [compression.encode()], "shape": list(c.shape),
              "y": np.asarray(labels, np.float32).tolist(), "sim": [int(sim)],
              "subvolume": [int(subvolume)], "z": zs}
    for name, (kind, length) in FEATURES.items():
        v = values[name]
        if isinstance(length, int) and len(v) != length:
            raise ValueError(f"feature {name}: {len(v)} values, spec says {length}")
    return example_bytes((name, kind, values[name]) for name, (kind, _) in FEATURES.items())


def decode_example(serialized: bytes, n_labels: int | None = None, *,
                   n_channels: int | None = None, where: str = "record") -> dict:
    """Serialized tf.train.Example -> dict of the `FEATURES` values (checked).

    Returns keys x (compressed payload bytes), dtype, compression (str), shape (S, S, S, C),
    y (float32 array), sim, subvolume (int), z (tuple of C floats). The counts:
    `example_counts`. ``n_labels`` / ``n_channels`` (None: not checked) are the manifest's.
    Every problem raises `RecordError` prefixed by ``where`` (the reader passes
    "<file>: record <i>").
    """
    import tensorflow as tf

    try:
        ex = tf.train.Example.FromString(serialized)
    except Exception as err:  # protobuf DecodeError
        raise RecordError(f"{where}: not a tf.train.Example ({err})") from err
    feat = ex.features.feature
    out = {}
    for name, (kind, length) in FEATURES.items():
        if name not in feat:
            raise RecordError(f"{where}: missing feature {name!r} (have {sorted(feat)})")
        f = feat[name]
        vals = {"bytes": f.bytes_list.value, "int64": f.int64_list.value,
                "float": f.float_list.value}[kind]
        want = {"labels": n_labels, "channels": n_channels}.get(length, length)
        if f.WhichOneof("kind") != {"bytes": "bytes_list", "int64": "int64_list",
                                    "float": "float_list"}[kind] or (
                want is not None and len(vals) != want):
            raise RecordError(f"{where}: feature {name!r} must be {want} {kind} value(s), "
                              f"got {f.WhichOneof('kind')} of length {len(vals)}")
        out[name] = vals
    dtype = out["dtype"][0].decode(errors="replace")
    if dtype not in DTYPES:
        raise RecordError(f"{where}: count dtype {dtype!r} not one of {DTYPES}")
    comp = out["compression"][0].decode(errors="replace")
    if comp not in COMPRESSIONS:
        raise RecordError(f"{where}: compression {comp!r} not one of {COMPRESSIONS}")
    shape = tuple(int(s) for s in out["shape"])
    if len(shape) != 4 or min(shape) < 1:
        raise RecordError(f"{where}: shape {shape} is not an (S, S, S, C) sample shape")
    if len(out["z"]) != shape[3]:
        raise RecordError(f"{where}: {shape[3]} channel(s) but {len(out['z'])} redshift(s)")
    return {"x": out["x"][0], "dtype": dtype, "compression": comp, "shape": shape,
            "y": np.asarray(out["y"], np.float32), "sim": int(out["sim"][0]),
            "subvolume": int(out["subvolume"][0]), "z": tuple(float(v) for v in out["z"])}


def example_counts(d: dict, where: str = "record") -> np.ndarray:
    """The counts array of a `decode_example` result (inflated and decoded, exact)."""
    try:
        return decode_counts(decompress_payload(d["x"], d["compression"]), d["dtype"], d["shape"])
    except (ValueError, zlib.error, OSError, EOFError) as err:
        raise RecordError(f"{where}: cannot decode x ({err})") from err


def tf_parse_spec(n_labels: int, n_channels: int = 1) -> dict:
    """`FEATURES` as a ``tf.io.parse_single_example`` spec (for graph-side parsing)."""
    import tensorflow as tf

    tf_type = {"bytes": tf.string, "int64": tf.int64, "float": tf.float32}
    sizes = {"labels": n_labels, "channels": n_channels}
    return {name: tf.io.FixedLenFeature([] if length == 1 else [sizes.get(length, length)],
                                        tf_type[kind])
            for name, (kind, length) in FEATURES.items()}


# --------------------------------------------------------------------------------------------
# labels
def label_names_for(cosmology: dict) -> list[str]:
    """Label names from the config's cosmology section: its varied parameters, in the fixed
    order Omega_m, sigma_8 | A_s, n_s, H0 | h, Omega_b (``cosmoflow.sampling.varied``).

    The order is the parameterisation's, not the YAML key order, so merged config files, or a
    config stored as JSON with sorted keys, give the same labels. Default: Omega_m, sigma_8, n_s
    (+ H0 with the legacy vary_H0).
    """
    from cosmoflow.sampling import varied

    return list(varied(cosmology))


def label_norm_for(cosmology: dict, kind: str) -> dict:
    """Affine label normalisation y_n = (y - offset) / scale from the varied parameters' priors.

    kind "range": each [low, high) -> [-1, 1] (MLPerf): offset = (low + high) / 2,
    scale = (high - low) / 2. kind "zscore": mean and standard deviation of the uniform prior,
    offset = (low + high) / 2, scale = (high - low) / sqrt(12) (the same for every split).
    Units are the parameters' own (A_s dimensionless ~1e-9, H0 km/s/Mpc, h, ...).
    """
    from cosmoflow.sampling import varied

    prior = varied(cosmology)
    names = list(prior)
    low = [float(prior[n][0]) for n in names]
    high = [float(prior[n][1]) for n in names]
    if not names or any(h <= l for l, h in zip(low, high)):
        raise ValueError(f"cosmology: expected at least one varied parameter, each with low < high, "
                         f"got {prior}")
    offset = [(l + h) / 2 for l, h in zip(low, high)]
    if kind == "range":
        scale = [(h - l) / 2 for l, h in zip(low, high)]
    elif kind == "zscore":
        scale = [(h - l) / math.sqrt(12.0) for l, h in zip(low, high)]
    else:
        raise ValueError(f"label_norm must be 'range' or 'zscore', got {kind!r}")
    return {"kind": kind, "names": names, "low": low, "high": high, "offset": offset,
            "scale": scale, "formula": "y_norm = (y - offset) / scale; y = offset + scale * y_norm"}


def normalise_labels(y: np.ndarray, norm: dict) -> np.ndarray:
    """Physical labels -> normalised (last axis = labels), float32."""
    return ((np.asarray(y, np.float64) - norm["offset"]) / norm["scale"]).astype(np.float32)


def denormalise_labels(y_norm: np.ndarray, norm: dict) -> np.ndarray:
    """Normalised labels -> physical, float64."""
    return np.asarray(norm["offset"]) + np.asarray(norm["scale"]) * np.asarray(y_norm, np.float64)


# --------------------------------------------------------------------------------------------
# writer
def check_disjoint_splits(splits: dict[str, Iterable[str]]) -> None:
    """Raise ValueError if any simulation appears in two splits."""
    seen: dict[str, str] = {}
    for split, sims in splits.items():
        for sim in sims:
            if str(sim) in seen and seen[str(sim)] != split:
                raise ValueError(f"simulation {sim} is in two splits: "
                                 f"{seen[str(sim)]!r} and {split!r}")
            seen[str(sim)] = split


def plan_files(items: Sequence, samples_per_file: int, seed) -> list[list]:
    """Shuffle ``items`` (seeded) across simulations, then pack them into files."""
    if samples_per_file < 1:
        raise ValueError(f"samples_per_file must be >= 1, got {samples_per_file}")
    order = np.random.default_rng(seed).permutation(len(items))
    shuffled = [items[i] for i in order]
    return [shuffled[i:i + samples_per_file] for i in range(0, len(shuffled), samples_per_file)]


def record_file_name(split: str, index: int) -> str:
    """File name of record file ``index`` of a split, e.g. train-0003.tfrecord."""
    return f"{split}-{index:04d}.tfrecord"


def sha256_file(path: str | os.PathLike, block: int = 1 << 22) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def split_seed(seed: int, split: str) -> list[int]:
    """Seed of a split's packing shuffle: [master seed, crc32(split name)]."""
    return [int(seed), zlib.crc32(split.encode())]


def write_split(voxel_paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                split: str, *, sims: Sequence[str], samples_per_file: int, compression: str,
                cosmology: dict, label_norm: str, seed: int, config: dict | None = None,
                compression_level: int = 6, channels: Sequence[float] | None = None) -> dict:
    """Write the record files and (last) the manifest of one split.

    Parameters
    ----------
    voxel_paths : voxel files (``voxels/{sim}/z{z}.h5``) of this split's simulations.
    out_dir : folder of the split; gets ``{split}-NNNN.tfrecord`` and manifest.json.
    sims : the split's simulation ids; every voxel file must belong to one of them.
    samples_per_file, compression : config ``tfrecords`` section.
    cosmology : config ``cosmology`` section (label names and ranges).
    label_norm : "range" | "zscore".
    seed : master seed; the packing shuffle uses ``split_seed(seed, split)``.
    config : the full config, stored in the manifest.
    channels : None: one single-channel sample per voxel file and sub-volume; a list of
        redshifts: one sample per simulation and sub-volume whose channel i is the snapshot at
        ``channels[i]`` (every simulation must have a voxel file at each of them).

    Returns
    -------
    The manifest (also written to ``out_dir/manifest.json``, atomically, after every record
    file is complete; a folder without manifest.json is an incomplete dataset).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / "manifest.json"
    if manifest_path.exists():
        manifest_path.unlink()          # the folder is incomplete until the new one is written
    names = label_names_for(cosmology)
    norm = label_norm_for(cosmology, label_norm)
    sim_set = {str(s) for s in sims}

    files_of: dict[str, dict[float, str]] = {}   # sim -> {z: voxel file}
    n_sub, sample_side, mean_counts = None, None, set()
    import h5py
    for p in voxel_paths:
        with h5py.File(p, "r") as f:
            if "counts" not in f:
                raise ValueError(f"{p}: missing dataset /counts")
            a = dict(f.attrs)
        missing = [k for k in ["sim", "z", "n_voxels", "subvolume", "n_particles_total"] + names
                   if k not in a]
        if missing:
            raise ValueError(f"{p}: missing attribute(s) {missing}")
        sim = a["sim"].decode() if isinstance(a["sim"], bytes) else str(a["sim"])
        if sim not in sim_set:
            raise ValueError(f"{p}: simulation {sim} is not in split {split!r} ({sorted(sim_set)})")
        V, S = int(a["n_voxels"]), int(a["subvolume"])
        if sample_side not in (None, S):
            raise ValueError(f"{p}: sub-volume {S}^3 differs from {sample_side}^3 of other files")
        sample_side, n_sub = S, (V // S) ** 3
        mean_counts.add(int(a["n_particles_total"]) / V ** 3)
        files_of.setdefault(sim, {})[round(float(a["z"]), 6)] = str(p)
    if not files_of:
        raise ValueError(f"split {split!r}: no voxel files given")
    if channels is None:
        groups = [((z,), (path,)) for sim in sorted(files_of) for z, path in sorted(files_of[sim].items())]
    else:
        want = [round(float(z), 6) for z in channels]
        groups = []
        for sim in sorted(files_of):
            lack = [z for z in want if z not in files_of[sim]]
            if lack:
                raise ValueError(f"split {split!r}: simulation {sim} has no voxel file at z = "
                                 f"{lack} (channels {want}; given {sorted(files_of[sim])})")
            groups.append((tuple(want), tuple(files_of[sim][z] for z in want)))
    n_ch = len(groups[0][0])
    items = [(zs, paths, k) for zs, paths in groups for k in range(n_sub)]
    sample_shape = (sample_side,) * 3 + (n_ch,)

    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
    plan = plan_files(items, samples_per_file, split_seed(seed, split))
    files, dtype_counts = [], {d: 0 for d in DTYPES}
    n_vox, max_count = 0, 0
    # per-channel sums of log1p(counts), its square, counts and their square (channel statistics
    # for the input standardisation of the training split: data.standardize)
    ch_sums = np.zeros((4, n_ch))
    for i, chunk in enumerate(plan):
        name = record_file_name(split, i)
        with atomic_path(out_dir / name) as tmp:
            with RecordWriter(tmp) as w:
                for zs, paths, k in chunk:
                    counts, y, sim = _stack_channels(paths, k, names)
                    w.write(encode_example(counts, y, sim=sim, subvolume=k, z=zs,
                                           compression=compression, level=compression_level))
                    dtype_counts[smallest_uint_dtype(int(counts.max())).name] += 1
                    lg = np.log1p(counts.astype(np.float64))
                    n_vox += counts.size
                    c = counts.reshape(-1, n_ch).astype(np.float64)
                    lc = lg.reshape(-1, n_ch)
                    ch_sums += [lc.sum(0), np.square(lc).sum(0), c.sum(0), np.square(c).sum(0)]
                    max_count = max(max_count, int(counts.max()))
        files.append({"name": name, "n_samples": len(chunk),
                      "bytes": (out_dir / name).stat().st_size,
                      "sha256": sha256_file(out_dir / name)})
    wanted = {f["name"] for f in files}
    for stale in out_dir.glob(f"{split}-*.tfrecord*"):
        if stale.name not in wanted:
            stale.unlink()

    if len(mean_counts) != 1:
        raise ValueError(f"split {split!r}: voxel files disagree on the mean count {mean_counts}")
    s1, s2 = ch_sums[0].sum(), ch_sums[1].sum()   # every channel's log1p sums together
    log_mean = s1 / n_vox
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "split": split,
        "compression": compression,
        "compression_level": compression_level,
        "compression_scope": "feature x (container uncompressed)",
        "count_codec": "byte-planes",
        "features": {k: {"kind": kind, "length": length} for k, (kind, length) in FEATURES.items()},
        "dtypes": dtype_counts,
        "sample_shape": list(sample_shape),
        "n_samples": len(items),
        "samples_per_file": samples_per_file,
        "label_names": names,
        "label_norm": norm,
        "input_stats": {
            "mean_count": mean_counts.pop(),
            "max_count": max_count,
            "log1p_mean": float(log_mean),
            "log1p_std": math.sqrt(max(s2 / n_vox - log_mean ** 2, 0.0)),
            "channels": _channel_stats(ch_sums, n_vox // n_ch),
        },
        "sims": sorted(files_of),
        "redshifts": sorted({z for zs, _ in groups for z in zs}),
        "channels": list(groups[0][0]) if channels is not None else None,
        "shuffle_seed": split_seed(seed, split),
        "files": files,
        "config": config or {},
    }
    with atomic_path(manifest_path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    return manifest


def _stack_channels(paths: Sequence[str], k: int, names: Sequence[str]
                    ) -> tuple[np.ndarray, list[float], int]:
    """Sub-volume ``k`` of each voxel file stacked as channels -> (counts (S,S,S,C), labels, sim).

    The files must be of one simulation (same labels): checked.
    """
    cubes, y0, sim0 = [], None, None
    for path in paths:
        counts, a = read_subvolume(path, k)
        y, sim = [float(a[n]) for n in names], int(a["sim"])
        if y0 is not None and (sim, y) != (sim0, y0):
            raise ValueError(f"{path}: simulation {sim} {y} stacked with {paths[0]} "
                             f"(simulation {sim0} {y0})")
        cubes.append(counts)
        y0, sim0 = y, sim
    return np.stack(cubes, axis=-1), y0, sim0


def _channel_stats(sums: np.ndarray, n: int) -> dict:
    """Per-channel mean and standard deviation of log1p(counts) and of counts, from the sums
    (rows: sum log1p, sum log1p^2, sum counts, sum counts^2) over ``n`` voxels per channel."""
    out = {}
    for key, (a, b) in {"log1p": (0, 1), "count": (2, 3)}.items():
        mean = sums[a] / n
        out[f"{key}_mean"] = [float(v) for v in mean]
        out[f"{key}_std"] = [float(v) for v in np.sqrt(np.maximum(sums[b] / n - mean ** 2, 0.0))]
    return out


def write_split_from_config(config: dict, split: str, splits: dict[str, Sequence[str]],
                            voxel_paths: Sequence[str | os.PathLike],
                            out_dir: str | os.PathLike) -> dict:
    """`write_split` with every parameter taken from the pipeline config.

    ``splits`` maps every split to its simulation ids; it is checked to be disjoint first.
    """
    check_disjoint_splits(splits)
    t = config["tfrecords"]
    return write_split(voxel_paths, out_dir, split, sims=splits[split],
                       samples_per_file=t["samples_per_file"], compression=t["compression"],
                       cosmology=config["cosmology"], label_norm=t["label_norm"],
                       seed=config["seed"], config=config, channels=channels_for(config))


def channels_for(config: dict) -> list[float] | None:
    """The redshift of each input channel (``cola.redshifts`` when ``tfrecords.redshift_channels``
    is true), or None: one single-channel sample per redshift."""
    if config["tfrecords"].get("redshift_channels", False):
        return [float(z) for z in config["cola"]["redshifts"]]
    return None
