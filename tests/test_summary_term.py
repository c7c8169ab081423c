"""The summary-statistics ridge as a fixed term of the network's output
(cosmoflow.model.summary_term, cosmoflow.train.label_shift, ``model.summary_term``)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml

from cosmoflow import config as cfgmod
from cosmoflow.evaluate import baselines, summaries
from cosmoflow.model import build_model, summary_term
from cosmoflow.model.power_features import load
from cosmoflow.train import label_shift, warm_start
from cosmoflow.train.data import DataSource

ROOT = Path(__file__).resolve().parents[1]
TERM = {"kind": "ridge", "pk_bins": 4, "quantiles": [0.1, 0.5, 0.9],
        "ridge_alphas": [1.0e-3, 1.0e-1, 10.0], "cv_folds": 3}


def count_cubes(n=24, size=16, channels=2, seed=1):
    """Poisson counts whose mean density (label 0) varies between samples; labels 1-2 noise."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(0.5, 2.0, n)
    lam = rng.lognormal(0.0, 1.0, (n, size, size, size, channels)) * level[:, None, None, None, None]
    counts = rng.poisson(lam).astype(np.int64)
    y = np.stack([np.log(level), rng.normal(size=n), rng.normal(size=n)], 1).astype(np.float32)
    return counts, y


def batches(counts, y, sims, batch=5):
    ids = {"sim": sims, "subvolume": np.arange(len(y)) % 4,
           "z": np.zeros((len(y), counts.shape[-1]), np.float32)}
    x = np.log1p(counts).astype(np.float32)
    return tf.data.Dataset.from_tensor_slices((x, y, ids)).batch(batch)


def test_features_are_the_summary_baselines():
    """In the graph, from log1p counts: the baseline's log P(k) per channel up to a constant
    (per-voxel vs (Mpc/h)^3 units) and its one-point features of log(1 + counts)."""
    counts, _ = count_cubes(n=1, channels=4)
    got = summary_term.layer_class()(6, [0.05, 0.5, 0.95])(np.log1p(counts).astype(np.float32))
    got = got.numpy()[0].astype(np.float64)
    want = summaries.summary_features([counts[0]], 64.0, 6, [0.05, 0.5, 0.95])[0]
    assert got.shape == want.shape == (summary_term.n_features(4, 6, [0.05, 0.5, 0.95]),)
    offset = (got[:24] - want[:24]).reshape(4, 6)
    np.testing.assert_allclose(offset - offset[:, :1], 0.0, atol=1e-5)
    np.testing.assert_allclose(got[24:], want[24:], rtol=1e-5, atol=1e-6)


def test_untrained_model_is_the_ridge_and_reloads(tmp_path):
    """The output layer starts at zero: an untrained model's means are the fitted ridge's
    estimates of the same features, its log-variances 0; it saves and reloads (stages'
    loader) to the same outputs."""
    counts, y = count_cubes()
    fitted = summary_term.fit(batches(counts, y, np.repeat(np.arange(6), 4)), TERM)
    model = build_model(16, preset="light", n_outputs=3, n_channels=2, head="gaussian",
                        summary_term=TERM, summary_ridge=fitted.state)
    x = np.log1p(counts).astype(np.float32)
    out = model(x, training=False).numpy()
    feats = summary_term.layer_class()(4, TERM["quantiles"])(x).numpy()
    want = baselines.RidgePk.from_state(fitted.state).predict(feats)
    np.testing.assert_allclose(out[:, :3], want, atol=1e-5)
    np.testing.assert_array_equal(out[:, 3:], 0.0)
    model.save(tmp_path / "m.keras")
    np.testing.assert_array_equal(load(tmp_path / "m.keras")(x, training=False).numpy(), out)
    assert not model.get_layer("summary_ridge").trainable_weights


def test_term_reads_a_parameter_the_statistics_carry():
    """Fitted on 32 samples, the term estimates the mean density of 16 new ones (R^2 > 0.9);
    the noise labels it cannot read get the penalty that keeps it near the mean."""
    counts, y = count_cubes(n=48, seed=3)
    fitted = summary_term.fit(batches(counts[:32], y[:32], np.repeat(np.arange(8), 4)), TERM)
    model = build_model(16, preset="light", n_outputs=3, n_channels=2, summary_term=TERM,
                        summary_ridge=fitted.state)
    pred = model(np.log1p(counts[32:]).astype(np.float32), training=False).numpy()
    r2 = 1 - ((pred[:, 0] - y[32:, 0]) ** 2).sum() / ((y[32:, 0] - y[32:, 0].mean()) ** 2).sum()
    assert r2 > 0.9
    assert fitted.alphas[1] == fitted.alphas[2] == max(TERM["ridge_alphas"])


def test_training_labels_are_shifted_to_the_out_of_fold_residual():
    """shift = each sample's estimate by the ridge fitted without its simulation's fold, minus
    the full ridge's; the shifted source subtracts each sample's own row, whatever the order."""
    counts, y = count_cubes()
    sims = np.repeat(np.arange(6), 4)
    fitted = summary_term.fit(batches(counts, y, sims), TERM)
    feats = summary_term.layer_class()(4, TERM["quantiles"])(np.log1p(counts).astype(np.float32))
    feats = feats.numpy().astype(np.float64)
    full = baselines.RidgePk(fitted.alphas).fit(feats, y)
    oof = np.empty_like(full.predict(feats))
    for held in baselines.group_folds(sims, 3):
        oof[held] = baselines.RidgePk(fitted.alphas).fit(feats[~held], y[~held]).predict(feats[held])
    np.testing.assert_allclose(fitted.shift, oof - full.predict(feats), atol=1e-5)
    assert np.abs(fitted.shift).max() > 1e-3

    x = np.log1p(counts).astype(np.float32)
    ids = {"sim": sims, "subvolume": np.arange(24) % 4, "z": np.zeros((24, 2), np.float32)}

    def make(epoch, with_ids=False):
        order = np.random.default_rng(epoch).permutation(24)
        return tf.data.Dataset.from_tensor_slices(
            (x[order], y[order], {k: v[order] for k, v in ids.items()})).batch(4)

    shifted = label_shift.shifted(DataSource(make=make, n_samples=24, label_names=list("abc")),
                                  fitted.keys, fitted.shift)
    order = np.random.default_rng(7).permutation(24)
    got = np.concatenate([b[1].numpy() for b in shifted.make(7)])
    np.testing.assert_allclose(got, y[order] - fitted.shift[order], atol=1e-6)


def test_warm_start_copies_the_saved_networks_layers_but_the_output(tmp_path):
    """train.init_from: every conv, batch-norm and dense layer starts as the saved network's;
    with the summary term the output layer stays at zero, so the model still starts as the
    ridge. A missing file or a model with no matching layer is refused naming the key."""
    counts, y = count_cubes()
    x = np.log1p(counts).astype(np.float32)
    saved = build_model(16, preset="light", n_outputs=3, n_channels=2, head="gaussian")
    saved.save(tmp_path / "saved.keras")
    fitted = summary_term.fit(batches(counts, y, np.repeat(np.arange(6), 4)), TERM)
    model = build_model(16, preset="light", n_outputs=3, n_channels=2, head="gaussian",
                        summary_term=TERM, summary_ridge=fitted.state)
    ridge_only = model(x, training=False).numpy()
    copied = warm_start.copy_weights(model, tmp_path / "saved.keras", skip=("output",))
    assert {"conv1", "bn1", "conv4", "bn4", "fc1"} <= set(copied) and "output" not in copied
    for name in ("conv1", "bn4", "fc1"):
        for a, b in zip(model.get_layer(name).get_weights(), saved.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.get_layer("output").get_weights()[0], 0.0)
    np.testing.assert_allclose(model(x, training=False).numpy(), ridge_only, atol=1e-6)
    with pytest.raises(ValueError, match="train.init_from: .*missing.keras does not exist"):
        warm_start.copy_weights(model, tmp_path / "missing.keras")
    build_model(16, [3, 5, 7, 9], [11], preset="light", n_outputs=3, n_channels=1).save(
        tmp_path / "other.keras")   # the same layer names, no shape in common
    with pytest.raises(ValueError, match="train.init_from: no layer of"):
        warm_start.copy_weights(model, tmp_path / "other.keras")


def test_errors_name_the_key():
    base = yaml.safe_load((ROOT / "config/config.yaml").read_text())

    def errors(model=None, data=None):
        cfg = {**base, "model": {**base["model"], **(model or {})},
               "data": {**base["data"], **(data or {})}}
        try:
            cfgmod.validate(cfg)
        except cfgmod.ConfigError as err:
            return str(err)
        return ""

    partial = {k: v for k, v in TERM.items() if k != "cv_folds"}
    assert "model.summary_term" in errors({"summary_term": partial})
    assert "cv_folds" in errors({"summary_term": partial})
    assert "model.summary_term.kind" in errors({"summary_term": {**TERM, "kind": "trees"}})
    assert "only the light preset" in errors({"summary_term": TERM, "preset": "mlperf"})
    assert "data.input_norm is 'mean'" in errors({"summary_term": TERM}, {"input_norm": "mean"})
    assert errors({"summary_term": TERM}) == ""
    with pytest.raises(ValueError, match="model.summary_term: the training inputs are not"):
        counts, y = count_cubes(n=4)
        summary_term.fit(tf.data.Dataset.from_tensor_slices(
            (np.log1p(counts).astype(np.float32) + 0.3, y,
             {"sim": np.arange(4), "subvolume": np.zeros(4, int), "z": np.zeros((4, 2))})).batch(2),
            TERM)


def test_null_is_the_config_without_the_term():
    base = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    with_null = {**base, "model": {**base["model"], "summary_term": None}}
    assert cfgmod.canonical(with_null) == cfgmod.canonical(base)


@pytest.mark.mpi
def test_trains_under_mpi_on_records_from_a_saved_network_with_the_whole_splits_ridge(tmp_path):
    """On real TFRecords under ``mpiexec -n 2``, starting from a saved network
    (``train.init_from``): the ranks stay in step, the saved model (stages' loader) carries
    the ridge fitted on the whole training split (rank 0's fit, broadcast), the log reports
    the in-sample and out-of-fold RMSE and the layers copied, and the file's digest enters
    the run's identity."""
    from datagen import make_splits, small_config

    from cosmoflow.data.reader import make_dataset

    cfg = small_config(redshift_channels=True)
    cfg["cola"]["redshifts"] = [0.0, 1.0]
    make_splits(tmp_path, cfg)
    train = tmp_path / "tfrecords/train/manifest.json"
    term = dict(TERM, pk_bins=3)
    build_model(16, [4, 8, 8], [16], preset="light", n_outputs=3, n_channels=2).save(
        tmp_path / "saved.keras")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    cmd = [str(Path(sys.executable).parent / "mpiexec"), "-n", "2", sys.executable, "-m",
           "cosmoflow.train", "--config", str(ROOT / "config/config.yaml"),
           "--train-manifest", str(train),
           "--val-manifest", str(tmp_path / "tfrecords/val/manifest.json"),
           "--out", str(tmp_path / "run"), "--runs", str(tmp_path / "runs"), "--ranks", "2",
           "--check-sync",
           "--set", "model.input_size=16", "--set", "model.conv_filters=[4,8,8]",
           "--set", "model.dense=[16]", "--set", "train.epochs=2",
           "--set", "train.decay_epochs=1", "--set", "train.batch_per_rank=2",
           "--set", f"model.summary_term={term}",
           "--set", f"train.init_from={tmp_path / 'saved.keras'}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "weights identical on all 2 ranks after each of" in proc.stderr
    assert "summary term: ridge on 22 features of 32 samples (4 simulations)" in proc.stderr
    assert "out of fold" in proc.stderr
    assert "weights of 7 layers copied (conv1, bn1, conv2, bn2, conv3, bn3, fc1); output starts at zero" in proc.stderr
    (run_json,) = (tmp_path / "runs").glob("*-1/run.json")
    run = yaml.safe_load(run_json.read_text())
    assert run["identity"]["inputs"]["init_from"] == warm_start.digest(tmp_path / "saved.keras")
    model = load(tmp_path / "run" / "model.keras")
    fitted = summary_term.fit(make_dataset(train, shuffle=False, batch_size=3, with_ids=True),
                              term)
    layer = model.get_layer("summary_ridge")
    np.testing.assert_allclose(np.asarray(layer.coef), fitted.state["coef"], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(layer.y_mean, fitted.state["y_mean"], rtol=1e-5)
