"""TFRecord size per 128^3 sample and reader throughput, with baselines from the same run.

Samples: 128^3 voxel counts of Zel'dovich-displaced 256^3 particles in a 256 Mpc/h box (mean
8 per voxel, clustered), two independent fields x 8 cube symmetries = 16 distinct samples.

Sizes: raw float32 (the paper's 64-per-file layout), int16 + GZIP one sample per file (MLPerf),
ours (byte-plane counts compressed per feature, GZIP, in an uncompressed container), and the
variants behind the format choice (per-feature ZLIB, whole-file GZIP container, plain uint16).

Throughput on 2 cores (decode + normalise log1p + random cube symmetry, batch 1): our
make_dataset vs an MLPerf-style tf.data reader of the int16 files, and the training rate of the
paper network at batch 1 (a stand-in of the spec's topology, plain Keras, FC 2048-256-3).

    python benchmarks/bench_tfrecords.py [--samples-per-file 8] [--epochs 4] [--no-train]
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as cosmoflow sets it
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from cosmoflow.data.reader import SYMMETRIES, apply_symmetry, make_dataset  # noqa: E402
from cosmoflow.data.synthetic import zeldovich_positions  # noqa: E402
from cosmoflow.data.tfrecord import encode_counts, encode_example, write_split  # noqa: E402
from cosmoflow.data.voxels import (assemble_subvolumes, histogram_counts, voxel_file_attrs,
                                   write_voxels)  # noqa: E402

COSMO = {"Omega_m": [0.25, 0.35], "sigma_8": [0.78, 0.95], "n_s": [0.90, 1.00], "H0": 70.3,
         "vary_H0": False, "H0_range": [63.0, 77.0]}


def samples(n_fields=2, n_sym=8):
    out = []
    for s in range(n_fields):
        c = histogram_counts(zeldovich_positions(256, 256.0, 6.0, seed=s), 256.0, 128)
        for k in range(n_sym):
            perm, flips = SYMMETRIES[(7 * k + s) % 48]
            x = np.transpose(c, perm)
            out.append(np.ascontiguousarray(np.flip(x, [a for a in range(3) if flips[a]])))
    return out


def feature(kind, v):
    if kind == "bytes":
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))
    return tf.train.Feature(float_list=tf.train.FloatList(value=v))


def mlperf_record(c, y):
    return tf.train.Example(features=tf.train.Features(feature={
        "x": feature("bytes", c.astype(np.int16).tobytes()),
        "y": feature("float", list(y))})).SerializeToString()


def write(path, records, compression=None):
    with tf.io.TFRecordWriter(str(path), tf.io.TFRecordOptions(compression_type=compression)) as w:
        for r in records:
            w.write(r)
    return Path(path).stat().st_size


def mlperf_dataset(files, augment=True):
    def parse(rec):
        f = tf.io.parse_single_example(rec, {"x": tf.io.FixedLenFeature([], tf.string),
                                            "y": tf.io.FixedLenFeature([4], tf.float32)})
        x = tf.reshape(tf.cast(tf.io.decode_raw(f["x"], tf.int16), tf.float32), (128,) * 3 + (1,))
        x = tf.math.log1p(x)
        if augment:
            x = apply_symmetry(x, tf.random.uniform([], 0, 48, tf.int32))
        return x, f["y"]
    ds = tf.data.Dataset.from_tensor_slices([str(f) for f in files]).interleave(
        lambda f: tf.data.TFRecordDataset(f, "GZIP"), cycle_length=2,
        num_parallel_calls=2, deterministic=False)
    return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE).batch(1).prefetch(tf.data.AUTOTUNE)


def rate(make, epochs):
    """(samples/s wall, CPU ms per sample, samples timed): epoch 0 is warm-up."""
    n, t0, c0 = 0, None, None
    for e in range(epochs + 1):
        if e == 1:
            t0, c0, n = time.perf_counter(), time.process_time(), 0
        for x, _ in make(e):
            n += int(x.shape[0])
    return n / (time.perf_counter() - t0), (time.process_time() - c0) / n * 1e3, n


def train_rate(steps=5):
    import keras
    from keras import layers

    def block(*ls):
        return [x for lay in ls for x in (lay, layers.LeakyReLU(negative_slope=0.01))]
    m = keras.Sequential([keras.Input((128, 128, 128, 1))]
                         + block(layers.Conv3D(16, 3)) + [layers.AveragePooling3D(2)]
                         + block(layers.Conv3D(32, 4)) + [layers.AveragePooling3D(2)]
                         + block(layers.Conv3D(64, 4)) + [layers.AveragePooling3D(2)]
                         + block(layers.Conv3D(128, 3, strides=2),
                                 layers.Conv3D(256, 2, padding="same"),
                                 layers.Conv3D(256, 2, strides=2), layers.Conv3D(256, 2))
                         + [layers.Flatten()] + block(layers.Dense(2048), layers.Dense(256))
                         + [layers.Dense(3)])
    m.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).random((steps + 2, 128, 128, 128, 1), np.float32)
    y = np.zeros((steps + 2, 3), np.float32)
    m.train_on_batch(x[:1], y[:1])
    m.train_on_batch(x[1:2], y[1:2])
    t, c = time.perf_counter(), time.process_time()
    for i in range(steps):
        m.train_on_batch(x[i + 2:i + 3], y[i + 2:i + 3])
    return (steps / (time.perf_counter() - t), (time.process_time() - c) / steps * 1e3,
            m.count_params())


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples-per-file", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=4, help="timed reader epochs of 16 samples")
    ap.add_argument("--no-train", action="store_true", help="skip the training-rate baseline")
    a = ap.parse_args()
    tf.config.threading.set_inter_op_parallelism_threads(2)
    tf.config.threading.set_intra_op_parallelism_threads(2)
    t = time.perf_counter()
    cubes = samples()
    n = len(cubes)
    print(f"{n} samples of 128^3 (mean {np.mean([c.mean() for c in cubes]):.2f}/voxel, max "
          f"{max(c.max() for c in cubes)}, {np.mean([np.mean(c == 0) for c in cubes]):.1%} "
          f"empty voxels) made in {time.perf_counter() - t:.0f} s")
    y = [0.3, 0.8, 0.95]
    tmp = Path(tempfile.mkdtemp(prefix="bench_tfr_"))
    rows = []
    raw = write(tmp / "raw.tfrecord", [tf.train.Example(features=tf.train.Features(feature={
        "x": feature("bytes", cubes[0].astype(np.float32).tobytes()),
        "y": feature("float", y)})).SerializeToString()])
    rows.append(("raw float32, uncompressed (paper)", raw))
    ml = [write(tmp / f"mlperf-{i}.tfrecord.gz", [mlperf_record(c, y + [70.])], "GZIP")
          for i, c in enumerate(cubes)]
    rows.append(("int16 + GZIP, 1 sample/file (MLPerf)", np.mean(ml)))
    t = time.perf_counter()
    ours = [encode_example(c, y, sim=i, subvolume=0, z=0.0, compression="GZIP")
            for i, c in enumerate(cubes)]
    t_write = (time.perf_counter() - t) / n
    size_gz = write(tmp / "ours.tfrecord", ours) / n
    size_zl = write(tmp / "ours_zlib.tfrecord", [
        encode_example(c, y, sim=i, subvolume=0, z=0.0, compression="ZLIB")
        for i, c in enumerate(cubes)]) / n
    planes = [tf.train.Example(features=tf.train.Features(feature={
        "x": feature("bytes", encode_counts(c)[0]), "y": feature("float", y)}))
        .SerializeToString() for c in cubes]
    size_cont = write(tmp / "container.gz", planes, tf.io.TFRecordOptions(
        compression_type="GZIP", compression_level=6)) / n
    plain = [tf.train.Example(features=tf.train.Features(feature={
        "x": feature("bytes", c.astype("<u2").tobytes()), "y": feature("float", y)}))
        .SerializeToString() for c in cubes]
    size_plain = write(tmp / "plain.gz", plain, "GZIP") / n
    rows += [("ours: byte planes, per-feature GZIP", size_gz),
             ("  variant: byte planes, per-feature ZLIB", size_zl),
             ("  variant: byte planes, GZIP container", size_cont),
             ("  variant: plain <u2, GZIP container", size_plain)]
    print(f"\n{'format (per 128^3 sample)':<44}{'MB':>8}{'vs float32':>12}")
    for name, b in rows:
        print(f"{name:<44}{b / 1e6:>8.3f}{raw / b:>11.1f}x")
    print(f"target <= 1.5 MB: {'met' if size_gz <= 1.5e6 else 'NOT met'}; encode + compress "
          f"{t_write * 1e3:.0f} ms/sample (level 6)")

    # inflate cost: whole-file stream (serial, in the file iterator) vs per feature (in the map)
    def container_read():
        for _r in tf.compat.v1.io.tf_record_iterator(str(tmp / "container.gz"),
                                                      tf.io.TFRecordOptions(compression_type="GZIP")):
            pass
    xs = tf.data.Dataset.from_tensor_slices(
        [tf.train.Example.FromString(r).features.feature["x"].bytes_list.value[0] for r in ours])
    inflate = xs.map(lambda b: tf.reduce_max(tf.io.decode_raw(tf.io.decode_compressed(b, "GZIP"),
                                                              tf.uint8)), num_parallel_calls=2)
    for name, f in (("GZIP container, file iterator (serial)", container_read),
                    ("per-feature GZIP, tf.data map (parallel)", lambda: list(inflate))):
        f()
        t, c = time.perf_counter(), time.process_time()
        f()
        print(f"inflate {name}: {(time.perf_counter() - t) / n * 1e3:.1f} ms/sample wall, "
              f"{(time.process_time() - c) / n * 1e3:.1f} ms CPU")

    # reader throughput: 8 voxel files of 256^3 (8 sub-volumes each) = 64 samples per epoch
    vox = []
    for i in range(8):
        order = np.random.default_rng(i).permutation(n)[:8]
        grid = assemble_subvolumes(np.stack([cubes[j] for j in order]))
        p = tmp / "voxels" / f"{i:05d}.h5"
        write_voxels(p, grid, voxel_file_attrs(
            {"Omega_m": 0.3, "sigma_8": 0.8, "n_s": 0.95, "H0": 70.3, "box": 512.0, "z": 0.0},
            sim=f"{i:05d}", n_voxels=256, subvolume=128, snapshot="synthetic",
            n_particles_total=512 ** 3))
        vox.append(p)
    m = write_split(vox, tmp / "train", "train", sims=[f"{i:05d}" for i in range(8)],
                    samples_per_file=a.samples_per_file, compression="GZIP", cosmology=COSMO,
                    label_norm="range", seed=1)
    ml_files = sorted(tmp.glob("mlperf-*.tfrecord.gz")) * (m["n_samples"] // n)
    print(f"\nreaders: {m['n_samples']} samples per epoch ({len(m['files'])} files of ours, "
          f"{m['n_samples']} MLPerf files), batch 1, {a.epochs} timed epochs after 1 warm-up")
    res = [("ours: make_dataset, log1p + augment",
            rate(lambda e: make_dataset(tmp / "train", augment=True, seed=1, epoch=e), a.epochs)),
           ("ours: make_dataset, log1p, no augment",
            rate(lambda e: make_dataset(tmp / "train", augment=False, seed=1, epoch=e), a.epochs)),
           ("MLPerf-style reader, int16+GZIP, log1p + augment",
            rate(lambda e: mlperf_dataset(ml_files), a.epochs))]
    print(f"{'':<52}{'samples/s':>10}{'CPU ms/sample':>15}{'2-core capacity':>17}")
    for name, (r, cpu, _) in res:
        print(f"{name:<52}{r:>10.1f}{cpu:>15.1f}{2000 / cpu:>14.1f}/s")
    if not a.no_train:
        tr, tcpu, n_par = train_rate()
        print(f"{'training, paper topology, batch 1 (%.2f M params)' % (n_par / 1e6):<52}"
              f"{tr:>10.2f}{tcpu:>15.0f}{2000 / tcpu:>14.2f}/s")
        print(f"reader / training: {res[0][1][0] / tr:.1f}x measured, "
              f"{tcpu / res[0][1][1]:.1f}x by CPU time (target >= 10x)")
    print("(wall rates share the machine with whatever else runs; CPU ms/sample is the cost "
          "per sample, 2-core capacity = 2000 / CPU ms)")
    for p in sorted(tmp.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    tmp.rmdir()


if __name__ == "__main__":
    main()
