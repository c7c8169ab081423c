"""Data-parallel training with REAL `mpiexec -n 2` (the venv's MPICH) on small 16^3 models."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from cosmoflow.train.checkpoint import checkpoint_path, load_checkpoint
from cosmoflow.train.data import synthetic_arrays

pytestmark = pytest.mark.mpi

ROOT = Path(__file__).resolve().parents[1]
MPIEXEC = str(Path(sys.executable).parent / "mpiexec")
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
LR, LR_MIN = 2.0e-3, 1.0e-4  # the paper's rates: the synthetic set learns fast with them
SMALL = ["--set", "model.input_size=16", "--set", "model.conv_filters=[4,8,8,8]",
         "--set", "model.dense=[32,16]", "--set", "train.threads_per_rank=1",
         "--set", f"train.lr={LR!r}", "--set", f"train.lr_min={LR_MIN!r}",
         # the paper's network and recipe at batch 1 (the default config's are set per test)
         "--set", "model.preset=paper", "--set", "train.optimizer=adam_larc",
         "--set", "train.schedule=poly", "--set", "train.warmup_epochs=0",
         "--set", "train.weight_decay=0.0", "--set", "train.batch_per_rank=1",
         "--set", "train.select=last", "--set", "data.standardize=false"]
N_TRAIN, N_VAL, EPOCHS = 64, 16, 4
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))


def _cmd(n_ranks, out, *extra, mpi=True):
    py = [sys.executable, "-m", "cosmoflow.train", "--config", str(ROOT / "config/config.yaml"),
          "--out", str(out), "--ranks", str(n_ranks), *SMALL, *extra]
    return [MPIEXEC, "-n", str(n_ranks), *py] if mpi else py


def run_train(n_ranks, out, *extra, mpi=True, check=True):
    proc = subprocess.run(_cmd(n_ranks, out, *extra, mpi=mpi), cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"rc={proc.returncode}\n{proc.stderr[-4000:]}")
    return proc


def history(out):
    with open(Path(out) / "history.csv") as fh:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(fh)]


def weights(out):
    return load_checkpoint(checkpoint_path(out))[0]


def common(epochs=EPOCHS, n_train=N_TRAIN, n_val=N_VAL):
    return ["--synthetic", f"{n_train}:{n_val}", "--set", f"train.epochs={epochs}",
            "--set", f"train.decay_epochs={EPOCHS}"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    proc = run_train(2, out, *common(), "--check-sync")
    return out, proc


def test_world_size_check_fires_without_launcher(tmp_path):
    proc = run_train(2, tmp_path, *common(), mpi=False, check=False)
    assert proc.returncode == 2
    assert "MPI world size is 1 but --ranks/train.ranks asks for 2" in proc.stderr
    assert not (tmp_path / "history.csv").exists()


def test_world_size_check_fires_on_every_rank(tmp_path):
    cmd = _cmd(3, tmp_path, *common())
    cmd[2] = "2"  # 2 processes, 3 asked for
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    for rank in (0, 1):
        assert f"rank {rank}: MPI world size is 2 but --ranks/train.ranks asks for 3" in proc.stderr


def test_training_learns_and_ranks_stay_identical(uninterrupted):
    out, proc = uninterrupted
    steps = EPOCHS * N_TRAIN // 2
    assert f"weights identical on all 2 ranks after each of {steps} checked steps" in proc.stderr
    hist = history(out)
    assert [int(r["epoch"]) for r in hist] == list(range(1, EPOCHS + 1))
    assert int(hist[-1]["step"]) == steps
    assert hist[-1]["lr"] == pytest.approx(LR_MIN + (LR - LR_MIN) / steps)
    # mean predictor: the training labels' mean, scored on the validation labels
    seed = CONFIG["data"]["seed"]
    _, y_train = synthetic_arrays(N_TRAIN, 16, seed)
    _, y_val = synthetic_arrays(N_VAL, 16, seed + 1)
    mean_loss = float(np.mean((y_val - y_train.mean(axis=0)) ** 2))
    assert hist[-1]["val_loss"] < 0.9 * mean_loss, (hist[-1]["val_loss"], mean_loss)
    assert (out / "model.keras").exists() and (out / "label_norm.json").exists()
    import keras

    assert keras.models.load_model(out / "model.keras", compile=False).name == "cosmoflow_paper"
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert {"samples_per_s", "val_mae_mean", "allreduce_ms_per_step"} <= set(hist[0])


def test_sigterm_then_resume_matches_uninterrupted(uninterrupted, tmp_path):
    full, _ = uninterrupted
    stop_step = N_TRAIN // 2 + 5  # in the middle of epoch 2
    proc = run_train(2, tmp_path, *common(), "--debug-sigterm-at-step", str(stop_step), check=False)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr[-3000:]
    assert f"stopped after step {stop_step + 1} (epoch 2)" in proc.stderr
    assert not (tmp_path / "model.keras").exists()
    _, _, meta = load_checkpoint(checkpoint_path(tmp_path))
    assert (meta["epoch"], meta["step"]) == (1, stop_step + 1)
    _check_one_rank_batch2_equals(weights(tmp_path), stop_step, tmp_path / "r1b2")
    run_train(2, tmp_path, *common(), "--resume")
    h_full, h_res = history(full), history(tmp_path)
    assert len(h_res) == len(h_full) == EPOCHS
    for r, f in zip(h_res, h_full):
        for key in ("loss", "val_loss", "lr", "val_mae_mean", "step"):
            assert r[key] == pytest.approx(f[key], rel=1e-6, abs=1e-9), (key, r, f)
    for x, y in zip(weights(tmp_path), weights(full)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)


def _check_one_rank_batch2_equals(w_2x1, stop_step, out, *extra):
    """1 rank x batch 2 (in this process, no MPI) after the same number of steps gives the
    weights that 2 ranks x batch 1 reached (float32 tolerance)."""
    from cosmoflow.train.cli import load_config, parse_args, prepare
    from cosmoflow.train.dist import Dist
    from cosmoflow.train.loop import StopRequested, train

    args = parse_args(["--config", str(ROOT / "config/config.yaml"), "--out", str(out),
                       *SMALL, *common(), *extra, "--set", "train.batch_per_rank=2", "--set",
                       "train.ranks=1"])
    dist = Dist.single()
    model, model_cfg, settings, tr, va = prepare(args, load_config(args), dist)
    with pytest.raises(StopRequested):
        train(model, model_cfg, settings, dist, tr, va, out, sigterm_at_step=stop_step)
    w_1x2 = weights(out)
    assert len(w_1x2) == len(w_2x1) > 0
    for x, y in zip(w_1x2, w_2x1):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=2e-6)


def test_external_sigterm_to_mpiexec_then_resume_matches(uninterrupted, tmp_path):
    """SIGTERM to the launcher (as Slurm before a time limit) once epoch 1 is checkpointed:
    both ranks stop after the same step; --resume reproduces the uninterrupted history."""
    full, _ = uninterrupted
    # same schedule as the uninterrupted run (decay over EPOCHS), but far more epochs asked
    proc = subprocess.Popen(_cmd(2, tmp_path, *common(epochs=50)), cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ckpt = checkpoint_path(tmp_path)
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert ckpt.exists()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    stops = [line for line in err.splitlines() if "SIGTERM: stopped after step" in line]
    assert len(stops) == 2  # both ranks, after the same step
    assert len({s.split("stopped after step")[1] for s in stops}) == 1
    _, _, meta = load_checkpoint(ckpt)
    assert 1 <= meta["epoch"] < EPOCHS, "the signal came too late to test a resume"
    assert not (tmp_path / "model.keras").exists()
    run_train(2, tmp_path, *common(), "--resume")
    h_full, h_res = history(full), history(tmp_path)
    assert len(h_res) == EPOCHS
    for r, f in zip(h_res, h_full):
        assert r["loss"] == pytest.approx(f["loss"], rel=1e-6)
        assert r["val_loss"] == pytest.approx(f["val_loss"], rel=1e-6)


# -- presets and recipe options -------------------------------------------------------------
def _sets(**kv):
    return [a for k, v in kv.items() for a in ("--set", f"{k}={v}")]


PRESET_SETS = {
    "paper": _sets(**{"model.preset": "paper"}),
    "mlperf": _sets(**{"model.preset": "mlperf", "model.conv_filters": "[4,8,8,8]",
                       "model.dense": "[16,8]"}),
    "light": _sets(**{"model.preset": "light", "model.conv_filters": "[4,8,8]",
                      "model.dense": "[16]"}),
}
#: every recipe option away from its default (no batch norm or dropout: see the next test),
#: the gaussian head (mean + log-variance, beta-NLL) included
RECIPE = _sets(**{"train.optimizer": "sgd", "train.momentum": 0.9, "train.weight_decay": 1.0e-3,
                  "train.schedule": "cosine", "train.warmup_epochs": 0.5, "train.grad_clip": 0.5,
                  "train.lr": 2.0e-2, "train.lr_min": 1.0e-4, "data.standardize": "true",
                  "model.head": "gaussian", "train.nll_beta": 0.5})
#: batch norm, dropout, AdamW, warm-up + cosine, clipping, standardisation, best-epoch export
LIGHT_RECIPE = PRESET_SETS["light"] + _sets(**{
    "train.optimizer": "adamw", "train.weight_decay": 1.0e-4, "train.schedule": "cosine",
    "train.warmup_epochs": 1, "train.grad_clip": 1.0, "data.standardize": "true",
    "train.select": "best"})


def test_mlperf_preset_trains_under_mpi_with_ranks_in_step(tmp_path):
    """The mlperf preset, 2 ranks x batch 4. Each preset trains under MPI with the ranks in
    step: paper in test_training_learns_and_ranks_stay_identical (the module's run), light in
    test_batchnorm_dropout_adamw_resume_matches_uninterrupted_and_exports_best (and batch 4 in
    the power-branch tests), each launch ~15 s of a 2-core machine."""
    proc = run_train(2, tmp_path, *common(epochs=2), *PRESET_SETS["mlperf"],
                     "--set", "train.batch_per_rank=4", "--check-sync")
    assert "weights identical on all 2 ranks after each of 16 checked steps" in proc.stderr
    hist = history(tmp_path)
    assert len(hist) == 2 and all(np.isfinite(r["val_loss"]) for r in hist)
    import keras

    model = keras.models.load_model(tmp_path / "model.keras", compile=False)
    assert model.name == "cosmoflow_mlperf"


def _train_light_in_step(out, *sets):
    """Train the light preset with ``--set`` items ``sets`` (2 epochs, 2 ranks x 4, with
    --check-sync) under real MPI; assert the ranks stayed in step and every validation loss is
    finite; return the process and the saved model reloaded through the stages' loader."""
    from cosmoflow.model.power_features import load

    set_args = [a for item in sets for a in ("--set", item)]
    proc = run_train(2, out, *common(epochs=2), *PRESET_SETS["light"], *set_args,
                     "--set", "train.batch_per_rank=4", "--check-sync")
    assert "weights identical on all 2 ranks after each of 16 checked steps" in proc.stderr
    assert all(np.isfinite(r["val_loss"]) for r in history(out))
    return proc, load(out / "model.keras")


def test_light_with_power_input_trains_under_mpi_with_ranks_in_step(tmp_path):
    """model.power_bins: the in-graph P(k) branch trains with the ranks in step and is saved
    with the model (the saved model reloads through the stages' loader)."""
    _, model = _train_light_in_step(tmp_path, "model.power_bins=4")
    assert model.get_layer("shell_power").n_bins == 4


def test_power_linear_output_trains_under_mpi_standardised_by_the_whole_split(tmp_path):
    """model.power_into: output: each rank standardises the band powers with the statistics of
    the whole training split (not of its shard: the same for any number of ranks), the ranks
    train in step, and the saved model carries those statistics and a trained linear map."""
    from cosmoflow.model.power_features import feature_statistics, load

    proc = run_train(2, tmp_path, *common(epochs=2), *PRESET_SETS["light"],
                     "--set", "model.power_bins=4", "--set", "model.power_into=output",
                     "--set", "train.batch_per_rank=4", "--check-sync")
    assert "weights identical on all 2 ranks after each of 16 checked steps" in proc.stderr
    assert "power features' standardisation (training split, 4 features)" in proc.stderr
    model = load(tmp_path / "model.keras")
    x, y = synthetic_arrays(N_TRAIN, 16, int(CONFIG["data"]["seed"]))
    mean, std = feature_statistics([(x, y)], 4, "expm1")
    layer = model.get_layer("shell_power_std")
    np.testing.assert_allclose(np.ravel(layer.mean), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.ravel(layer.variance)), std, rtol=1e-5)
    assert np.abs(model.get_layer("power_linear").get_weights()[0]).max() > 0


def test_light_with_moments_trains_under_mpi_standardised_by_the_whole_split(tmp_path):
    """model.moments: each rank standardises the per-channel moments with the statistics of the
    whole training split, the ranks train in step, and the saved model (reloaded through the
    stages' loader) carries those statistics."""
    from cosmoflow.model import moments

    proc, model = _train_light_in_step(tmp_path, "model.moments=true")
    assert "moment features' standardisation (training split, 2 features)" in proc.stderr
    x, y = synthetic_arrays(N_TRAIN, 16, int(CONFIG["data"]["seed"]))
    mean, std = moments.feature_statistics([(x, y)])
    layer = model.get_layer("channel_moments_std")
    np.testing.assert_allclose(np.ravel(layer.mean), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.ravel(layer.variance)), std, rtol=1e-5)


def test_light_with_mean_std_pooling_trains_under_mpi_with_ranks_in_step(tmp_path):
    """model.global_pooling: mean_std trains under real MPI with the ranks in step, and the
    saved model (reloaded through the stages' loader) pools by mean and spread."""
    _, model = _train_light_in_step(tmp_path, "model.global_pooling=mean_std")
    assert type(model.get_layer("global_pool")).__name__ == "GlobalMeanStd"


def test_recipe_options_two_ranks_batch1_equal_one_rank_batch2(tmp_path):
    """SGD + momentum + weight decay + warm-up + cosine + clipping + standardisation + the
    gaussian head's NLL: the optimizer sees the averaged gradient, so 2 ranks x 1 == 1 rank x 2
    still holds."""
    stop_step = N_TRAIN // 2 + 3
    proc = run_train(2, tmp_path, *common(), *RECIPE, "--debug-sigterm-at-step", str(stop_step),
                     check=False)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr[-3000:]
    assert weights(tmp_path)[-1].shape == (6,)   # the gaussian head: 3 means, 3 log-variances
    _check_one_rank_batch2_equals(weights(tmp_path), stop_step, tmp_path / "r1b2", *RECIPE)


def test_batchnorm_dropout_adamw_resume_matches_uninterrupted_and_exports_best(tmp_path):
    """The light preset under 2 ranks, the ranks in step; its batch-norm statistics (per rank,
    averaged) and dropout streams are checkpointed: a run stopped by SIGTERM mid-epoch and
    resumed ends as the uninterrupted one; model.keras holds the weights of the epoch with the
    lowest validation loss."""
    import keras

    full, part = tmp_path / "full", tmp_path / "part"
    proc = run_train(2, full, *common(), *LIGHT_RECIPE, "--check-sync")
    steps = EPOCHS * N_TRAIN // 2
    assert f"weights identical on all 2 ranks after each of {steps} checked steps" in proc.stderr
    stop_step = N_TRAIN // 2 + 5
    proc = run_train(2, part, *common(), *LIGHT_RECIPE, "--debug-sigterm-at-step",
                     str(stop_step), check=False)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr[-3000:]
    run_train(2, part, *common(), *LIGHT_RECIPE, "--resume")
    for r, f in zip(history(part), history(full)):
        for key in ("loss", "val_loss", "lr"):
            assert r[key] == pytest.approx(f[key], rel=1e-5), (key, r, f)
    for x, y in zip(weights(part), weights(full)):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
    hist = history(full)
    best = min(hist, key=lambda r: r["val_loss"])
    model = keras.models.load_model(full / "model.keras", compile=False)
    assert model.name == "cosmoflow_light"
    with np.load(full / "checkpoint" / "best.npz") as z:
        best_w = [z[f"w{i}"] for i in range(len(z.files))]
    for a, b in zip(model.weights, best_w):
        np.testing.assert_array_equal(a.numpy(), b)
    if int(best["epoch"]) != EPOCHS:   # the last epoch's weights differ from the exported ones
        assert any(not np.array_equal(a.numpy(), b) for a, b in zip(model.weights, weights(full)))
