"""The tf.data reader: epoch coverage, shuffle-then-shard over 2 real MPI ranks, decode and
normalisation, the 48 cube symmetries, named errors for broken records and config mismatch."""
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from cosmoflow.data.reader import (SYMMETRIES, ManifestError, apply_symmetry, epoch_plan,
                                   make_dataset, read_manifest)
from cosmoflow.data.tfrecord import RecordError
from cosmoflow.data.voxels import read_subvolume
from datagen import make_splits, small_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reader")
    cfg = small_config()
    make_splits(tmp, cfg)
    return tmp, cfg


def all_ids(manifest):
    n_sub = manifest["n_samples"] // len(manifest["sims"])
    return {(int(s), k) for s in manifest["sims"] for k in range(n_sub)}


def test_epoch_decodes_every_sample_exactly(data, caplog):
    tmp, cfg = data
    m = read_manifest(tmp / "tfrecords" / "train")
    with caplog.at_level(logging.INFO, logger="cosmoflow.data"):
        ds = make_dataset(m["path"], batch_size=3, shuffle=True, seed=5, epoch=2,
                          with_ids=True, config=cfg)
    assert "file-order seed [5, 2]" in caplog.text
    seen = []
    norm = m["label_norm"]
    for x, y, ids in ds:
        assert x.dtype == tf.float32 and x.shape[1:] == (16, 16, 16, 1)
        for b in range(x.shape[0]):
            sim, k = int(ids["sim"][b]), int(ids["subvolume"][b])
            counts, attrs = read_subvolume(tmp / "voxels" / f"{sim:05d}" / "z0.00.h5", k)
            np.testing.assert_allclose(x[b, ..., 0].numpy(), np.log1p(counts.astype(np.float64)),
                                       rtol=2e-7)
            phys = np.float32([attrs[n] for n in m["label_names"]])
            np.testing.assert_allclose(y[b].numpy(), (phys - norm["offset"]) / norm["scale"],
                                       rtol=1e-5, atol=1e-6)
            assert np.all(np.abs(y[b].numpy()) <= 1)
            seen.append((sim, k))
    assert len(seen) == len(set(seen)) == m["n_samples"]
    assert set(seen) == all_ids(m)


def test_mean_normalisation_and_order(data):
    tmp, _ = data
    m = read_manifest(tmp / "tfrecords" / "train")
    x = next(iter(make_dataset(m["path"], shuffle=False, input_norm="mean", with_ids=True)))
    counts, _ = read_subvolume(tmp / "voxels" / f"{int(x[2]['sim'][0]):05d}" / "z0.00.h5",
                               int(x[2]["subvolume"][0]))
    assert m["input_stats"]["mean_count"] == 1.0      # 32^3 particles on 32^3 voxels
    np.testing.assert_array_equal(x[0][0, ..., 0].numpy(), counts)   # decode is exact
    plans = [epoch_plan(m, shuffle=True, seed=5, epoch=e) for e in range(4)]
    assert len({tuple(p) for p in plans}) > 1            # the file order changes per epoch
    assert epoch_plan(m, shuffle=True, seed=5, epoch=1) == plans[1]   # and is reproducible


@pytest.mark.mpi
def test_two_mpi_ranks_disjoint_union_is_epoch(data, tmp_path):
    tmp, _ = data
    mpiexec = Path(sys.executable).parent / "mpiexec"
    assert mpiexec.exists(), f"{mpiexec} missing: install the mpich wheel into the venv"
    m = read_manifest(tmp / "tfrecords" / "train")
    assert m["n_samples"] % 2 == 0 and len(m["files"]) > 2
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2",
               OMP_NUM_THREADS="1")
    out = tmp_path / "ranks.json"
    r = subprocess.run([str(mpiexec), "-n", "2", sys.executable,
                        str(ROOT / "tests" / "mpi_reader_ranks.py"), m["path"], str(out), "3"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["size"] == 2
    r0, r1 = ({tuple(v) for v in ids} for ids in res["ranks"])
    assert len(r0) == len(res["ranks"][0]) == m["n_samples"] // 2 == len(r1)
    assert not (r0 & r1)
    assert r0 | r1 == all_ids(m)
    assert len({s for s, _ in r0}) > 1    # shuffled before sharding: a rank sees many sims


def np_symmetry(x, k):
    perm, flips = SYMMETRIES[k]
    x = np.transpose(x, perm + (3,))
    return np.flip(x, [a for a in range(3) if flips[a]]) if any(flips) else x


def test_48_symmetries_distinct_and_label_preserving(data):
    rng = np.random.default_rng(6)
    cube = tf.constant(rng.random((6, 6, 6, 1)), tf.float32)
    outs = [apply_symmetry(cube, k).numpy() for k in range(48)]
    assert len(SYMMETRIES) == 48
    assert len({o.tobytes() for o in outs}) == 48
    for k, o in enumerate(outs):                  # each is the claimed permutation + flips
        np.testing.assert_array_equal(o, np_symmetry(cube.numpy(), k))
    tmp, _ = data
    path = tmp / "tfrecords" / "train"
    plain = {(int(i["sim"][0]), int(i["subvolume"][0])): (x[0].numpy(), y[0].numpy())
             for x, y, i in make_dataset(path, shuffle=False, with_ids=True)}
    used = set()
    for x, y, i in make_dataset(path, shuffle=False, augment=True, seed=3, with_ids=True):
        px, py = plain[(int(i["sim"][0]), int(i["subvolume"][0]))]
        np.testing.assert_array_equal(y[0].numpy(), py)           # labels invariant
        hits = [k for k in range(48) if np.array_equal(np_symmetry(px, k), x[0].numpy())]
        assert hits
        used.add(hits[0])
    assert len(used) > 5                                          # really random


def corrupt_copy(tmp, tmp_path, mode):
    src = tmp / "tfrecords" / "val"
    dst = tmp_path / mode
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    m = read_manifest(dst)
    name = m["files"][0]["name"]
    data = bytearray((dst / name).read_bytes())
    if mode == "truncated":
        data = data[: int(len(data) * 0.6)]
    else:
        data[len(data) // 2] ^= 0x10
    (dst / name).write_bytes(bytes(data))
    return dst, name


def drain(ds):
    for _ in ds:
        pass


def test_truncated_record_file_named(data, tmp_path):
    tmp, _ = data
    d, name = corrupt_copy(tmp, tmp_path, "truncated")
    with pytest.raises(RecordError, match=rf"{name}: \d+ bytes, manifest says"):
        make_dataset(d, shuffle=False)                              # caught at start-up
    with pytest.raises(tf.errors.OpError, match=rf"{name}: record \d+"):
        drain(make_dataset(d, shuffle=False, verify="none"))        # and while reading


def test_flipped_byte_named(data, tmp_path):
    tmp, _ = data
    d, name = corrupt_copy(tmp, tmp_path, "flipped")
    with pytest.raises(tf.errors.OpError, match=rf"{name}: record \d+: cannot read"):
        drain(make_dataset(d, shuffle=False))
    with pytest.raises(RecordError, match=rf"{name}: sha256 differs"):
        make_dataset(d, verify="sha256")


def test_config_manifest_mismatch_shows_both(data):
    tmp, cfg = data
    path = tmp / "tfrecords" / "test"
    bad = json.loads(json.dumps(cfg))
    bad["tfrecords"]["compression"] = "ZLIB"
    with pytest.raises(ManifestError, match="config tfrecords.compression = 'ZLIB' but .*"
                                            "compression = 'GZIP'"):
        make_dataset(path, config=bad)
    bad = json.loads(json.dumps(cfg))
    bad["model"]["input_size"] = 32
    with pytest.raises(ManifestError, match=r"\[32, 32, 32\] but .*sample_shape\[:3\] = \[16, 16, 16\]"):
        make_dataset(path, config=bad)
    bad = json.loads(json.dumps(cfg))
    bad["tfrecords"]["redshift_channels"] = True
    bad["cola"]["redshifts"] = [0.0, 1.0]
    with pytest.raises(ManifestError, match=r"channel redshifts\) = \[0\.0, 1\.0\] but .*channels = 'none'"):
        make_dataset(path, config=bad)
    bad = json.loads(json.dumps(cfg))
    bad["cosmology"]["vary_H0"] = True
    with pytest.raises(ManifestError, match="H0"):
        make_dataset(path, config=bad)
    with pytest.raises(ManifestError, match="manifest not found"):
        make_dataset(tmp / "tfrecords" / "nothing")
