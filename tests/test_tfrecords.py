"""TFRecord format: exact count codec, one feature spec, split writer and manifest."""
import io
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from cosmoflow.data.reader import decode_counts_tf, decode_sample_tf, read_manifest
from cosmoflow.data.tfrecord import (DTYPES, FEATURES, check_disjoint_splits,
                                     compress_payload, decode_counts, decode_example,
                                     denormalise_labels, encode_counts, encode_example,
                                     example_counts, label_norm_for, normalise_labels,
                                     sha256_file, tf_parse_spec, write_split)
from datagen import make_splits, small_config


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rec")
    cfg = small_config()
    return tmp, cfg, make_splits(tmp, cfg)


@pytest.mark.parametrize("dtype,top", [("uint8", 255), ("uint16", 65535), ("uint32", 2**32 - 1)])
def test_count_codec_bit_exact(dtype, top):
    rng = np.random.default_rng(5)
    c = rng.integers(0, top, (8, 8, 8), dtype=np.uint64, endpoint=True)
    c.flat[0], c.flat[1], c.flat[-1] = top, 0, top // 2 + 1
    payload, dt = encode_counts(c)
    assert dt == dtype and len(payload) == c.size * np.dtype(dtype).itemsize
    back = decode_counts(payload, dt, c.shape)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, c)
    graph = decode_counts_tf(tf.constant(payload), DTYPES.index(dt), c.size).numpy()
    np.testing.assert_array_equal(graph.reshape(c.shape), c.astype(np.int64))
    for comp in ("GZIP", "ZLIB"):      # the reader's path: inflate in graph, float32 planes
        x = decode_sample_tf(tf.constant(compress_payload(payload, comp)), DTYPES.index(dt),
                             c.shape, comp).numpy()
        exact = c < 2**24              # float32 holds every count below 2^24 exactly
        np.testing.assert_array_equal(x[exact], c[exact].astype(np.float32))
        np.testing.assert_allclose(x, c.astype(np.float64), rtol=2**-24)
    with pytest.raises(ValueError, match="bytes"):
        decode_counts(payload[:-1], dt, c.shape)


def test_example_round_trip_one_spec():
    c = np.arange(4 * 4 * 4, dtype=np.int64).reshape(4, 4, 4) * 3
    rec = encode_example(c, [0.3, 0.8, 0.96], sim=7, subvolume=2, z=0.5, compression="ZLIB")
    d = decode_example(rec, 3, n_channels=1)
    np.testing.assert_array_equal(example_counts(d), c[..., None])      # (S, S, S, C = 1)
    assert (d["sim"], d["subvolume"], d["z"], d["dtype"]) == (7, 2, (0.5,), "uint8")
    assert d["compression"] == "ZLIB"
    np.testing.assert_array_equal(d["y"], np.float32([0.3, 0.8, 0.96]))
    parsed = tf.io.parse_single_example(rec, tf_parse_spec(3))   # graph parse, same table
    assert set(parsed) == set(FEATURES)
    assert parsed["x"].numpy() == d["x"]
    with pytest.raises(ValueError, match="here: missing feature 'x'|here: not a tf.train"):
        decode_example(tf.train.Example().SerializeToString(), 3, where="here")
    two = np.stack([c, 2 * c], axis=-1)                                   # two redshifts
    rec2 = encode_example(two, [0.3, 0.8, 0.96], sim=7, subvolume=2, z=[0.0, 1.5])
    d2 = decode_example(rec2, 3, n_channels=2)
    np.testing.assert_array_equal(example_counts(d2), two)
    assert d2["z"] == (0.0, 1.5) and d2["shape"] == (4, 4, 4, 2)
    with pytest.raises(ValueError, match="feature 'z' must be 1 float"):
        decode_example(rec2, 3, n_channels=1, where="here")
    with pytest.raises(ValueError, match="2 channel\\(s\\) but 1 redshift"):
        encode_example(two, [0.3, 0.8, 0.96], sim=7, subvolume=2, z=0.0)
    parsed = tf.io.parse_single_example(rec2, tf_parse_spec(3, 2))
    np.testing.assert_allclose(parsed["z"].numpy(), [0.0, 1.5])


def test_records_and_examples_are_tensorflows_bytes(tmp_path):
    """The writer needs no TensorFlow (cosmoflow.data.tfrecord_io): its record files are
    tf.io.TFRecordWriter's byte for byte, its examples are the tf.train.Example of the same
    features (compared as messages: protobuf leaves the order of map entries open), and a
    damaged byte fails TensorFlow's CRC check."""
    from cosmoflow.data.tfrecord_io import RecordWriter, crc32c, example_bytes, masked_crc32c

    assert crc32c(b"123456789") == 0xE3069283 and crc32c(b"") == 0       # the check value
    assert masked_crc32c(b"") == 0xA282EAD8
    rng = np.random.default_rng(3)
    records = [b"", b"x", rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes(),
               encode_example(np.arange(64).reshape(4, 4, 4), [0.3, 0.8, 0.96], sim=7,
                              subvolume=2, z=0.5)]
    with tf.io.TFRecordWriter(str(tmp_path / "tf.tfrecord")) as w:
        for r in records:
            w.write(r)
    with RecordWriter(tmp_path / "ours.tfrecord") as w:
        for r in records:
            w.write(r)
    ours = (tmp_path / "ours.tfrecord").read_bytes()
    assert ours == (tmp_path / "tf.tfrecord").read_bytes()
    got = [r.numpy() for r in tf.data.TFRecordDataset(str(tmp_path / "ours.tfrecord"))]
    assert got == records
    damaged = bytearray(ours)
    damaged[len(ours) // 2] ^= 1
    (tmp_path / "damaged.tfrecord").write_bytes(bytes(damaged))
    with pytest.raises(tf.errors.DataLossError):
        list(tf.data.TFRecordDataset(str(tmp_path / "damaged.tfrecord")))

    features = [("b", "bytes", [b"", b"\x00\xff" * 200]), ("f", "float", [0.1, -2.5e-9, 3e38]),
                ("i", "int64", [0, 1, 127, 128, 2**40, -1, -(2**63)]), ("e", "float", []),
                ("n", "int64", []), ("s", "bytes", [])]
    kind = {"bytes": "bytes_list", "float": "float_list", "int64": "int64_list"}
    ref = tf.train.Example(features=tf.train.Features(feature={
        name: tf.train.Feature(**{kind[k]: getattr(tf.train, kind[k].title().replace("_", ""))(value=v)})
        for name, k, v in features}))
    assert tf.train.Example.FromString(example_bytes(features)) == ref


def test_label_normalisation():
    cfg = small_config()
    for kind in ("range", "zscore"):
        norm = label_norm_for(cfg["cosmology"], kind)
        lo, hi = np.array(norm["low"]), np.array(norm["high"])
        y = np.stack([lo, hi, (lo + hi) / 2])
        yn = normalise_labels(y, norm)
        if kind == "range":
            np.testing.assert_allclose(yn, [[-1] * 3, [1] * 3, [0] * 3], atol=1e-6)
        np.testing.assert_allclose(denormalise_labels(yn, norm), y, rtol=1e-6)
    assert label_norm_for(cfg["cosmology"] | {"vary_H0": True}, "range")["names"][-1] == "H0"


def test_splits_disjoint_and_manifest(splits):
    tmp, cfg, manifests = splits
    sims = {k: set(m["sims"]) for k, m in manifests.items()}
    assert not (sims["train"] & sims["val"]) and not (sims["train"] & sims["test"])
    assert not (sims["val"] & sims["test"])
    n_sub = (cfg["voxels"]["n_voxels"] // cfg["voxels"]["subvolume"]) ** 3
    for split, m in manifests.items():
        on_disk = read_manifest(tmp / "tfrecords" / split)
        assert on_disk["n_samples"] == len(m["sims"]) * n_sub
        assert on_disk["sample_shape"] == [16, 16, 16, 1] and on_disk["channels"] is None
        assert on_disk["config"]["tfrecords"] == cfg["tfrecords"]
        seen = set()
        for f in on_disk["files"]:
            p = tmp / "tfrecords" / split / f["name"]
            assert sha256_file(p) == f["sha256"] and p.stat().st_size == f["bytes"]
            recs = [decode_example(r, 3, n_channels=1)
                    for r in tf.compat.v1.io.tf_record_iterator(str(p))]
            assert all(r["compression"] == on_disk["compression"] for r in recs)
            assert example_counts(recs[0]).shape == (16, 16, 16, 1)
            assert len(recs) == f["n_samples"] <= cfg["tfrecords"]["samples_per_file"]
            seen |= {(f"{r['sim']:05d}", r["subvolume"]) for r in recs}
            if split == "train" and f is on_disk["files"][0]:
                assert len({r["sim"] for r in recs}) > 1   # shuffled across simulations
        assert seen == {(s, k) for s in m["sims"] for k in range(n_sub)}
    check_disjoint_splits({k: list(v) for k, v in sims.items()})
    with pytest.raises(ValueError, match="00001.*two splits|two splits"):
        check_disjoint_splits({"train": ["00000", "00001"], "val": ["00001"]})


def test_writer_refuses_foreign_sim_and_is_atomic(splits, tmp_path):
    tmp, cfg, _ = splits
    vox = tmp / "voxels" / "00000" / "z0.00.h5"
    with pytest.raises(ValueError, match=r"z0\.00\.h5: simulation 00000 is not in split 'val'"):
        write_split([vox], tmp_path / "val", "val", sims=["00004"], samples_per_file=4,
                    compression="ZLIB", cosmology=cfg["cosmology"], label_norm="range", seed=1)
    assert not (tmp_path / "val" / "manifest.json").exists()
    m = write_split([vox], tmp_path / "z", "z", sims=["00000"], samples_per_file=3,
                    compression="ZLIB", cosmology=cfg["cosmology"], label_norm="zscore", seed=1)
    names = sorted(p.name for p in (tmp_path / "z").iterdir())
    assert names == sorted([f["name"] for f in m["files"]] + ["manifest.json"])  # no temp files
    assert json.loads((tmp_path / "z" / "manifest.json").read_text())["compression"] == "ZLIB"
    assert [f["n_samples"] for f in m["files"]] == [3, 3, 2]


def test_inspect_cli_reports_and_verifies(splits, tmp_path):
    from cosmoflow.data.__main__ import inspect, main
    tmp, _, manifests = splits
    out = io.StringIO()
    assert inspect(tmp / "tfrecords", out=out) == 0
    text = out.getvalue()
    for split, m in manifests.items():
        assert f"[{split}] {m['n_samples']} samples in {len(m['files'])} file(s)" in text
    assert "splits disjoint" in text and "checksums: 7/7 ok" in text
    bad = tmp_path / "train"
    shutil.copytree(tmp / "tfrecords" / "train", bad)
    name = manifests["train"]["files"][2]["name"]
    data = bytearray((bad / name).read_bytes())
    data[100] ^= 1
    (bad / name).write_bytes(bytes(data))
    out = io.StringIO()
    assert inspect(bad, out=out) == 1
    assert f"BAD {bad / name}: sha256 differs" in out.getvalue()
    assert main(["inspect", str(bad)]) == 1


def test_redshift_channels_stack_one_simulation(tmp_path):
    """tfrecords.redshift_channels: one sample per (simulation, sub-volume), channel i = the
    voxel file at cola.redshifts[i], in config order; every simulation must have them all."""
    from cosmoflow.data.voxels import read_subvolume
    cfg = small_config(redshift_channels=True)
    cfg["cola"]["redshifts"] = [1.0, 0.0]               # config order, not sorted order
    cfg["sims"].update(n_sims=3, n_val=1, n_test=1)
    manifests = make_splits(tmp_path, cfg)
    n_sub = (cfg["voxels"]["n_voxels"] // cfg["voxels"]["subvolume"]) ** 3
    m = read_manifest(tmp_path / "tfrecords" / "train")
    assert m["sample_shape"] == [16, 16, 16, 2] and m["channels"] == [1.0, 0.0]
    assert m["n_samples"] == n_sub and m["redshifts"] == [0.0, 1.0]
    p = tmp_path / "tfrecords" / "train" / m["files"][0]["name"]
    for r in tf.compat.v1.io.tf_record_iterator(str(p)):
        d = decode_example(r, 3, n_channels=2)
        assert d["z"] == (1.0, 0.0)
        x = example_counts(d)
        for i, z in enumerate((1.0, 0.0)):
            want, attrs = read_subvolume(tmp_path / "voxels" / f"{d['sim']:05d}" / f"z{z:.2f}.h5",
                                         d["subvolume"])
            np.testing.assert_array_equal(x[..., i], want)
        np.testing.assert_allclose(d["y"], [attrs[n] for n in m["label_names"]], rtol=1e-6)
        assert x[..., 0].std() < x[..., 1].std()          # z = 1 is the less clustered channel
    vox = tmp_path / "voxels" / "00000" / "z0.00.h5"
    with pytest.raises(ValueError, match=r"simulation 00000 has no voxel file at z = \[1\.0\]"):
        write_split([vox], tmp_path / "x", "train", sims=["00000"], samples_per_file=4,
                    compression="GZIP", cosmology=cfg["cosmology"], label_norm="range", seed=1,
                    channels=[1.0, 0.0])
    assert set(manifests) == {"train", "val", "test"}
    # the reader: x [B, S, S, S, 2]; one cube symmetry moves both channels together
    from cosmoflow.data.reader import SYMMETRIES, make_dataset
    path = tmp_path / "tfrecords" / "train"
    plain = {int(i["subvolume"][0]): x[0].numpy()
             for x, _, i in make_dataset(path, shuffle=False, with_ids=True, config=cfg)}
    for x, _, i in make_dataset(path, shuffle=False, augment=True, seed=3, with_ids=True):
        assert x.shape[1:] == (16, 16, 16, 2)
        px = plain[int(i["subvolume"][0])]
        hits = [k for k, (perm, flips) in enumerate(SYMMETRIES)
                if np.array_equal(np.flip(np.transpose(px, perm + (3,)),
                                          [a for a in range(3) if flips[a]]), x[0].numpy())]
        assert hits
