"""Retraining: run ids, --forcerun, changed config / data, and SIGKILL + rerun (real snakemake,
real MPI). One finished tiny run (to the train target) is shared; each test works on a copy."""
import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import ROOT, TINY, copy_run, run_snakemake, tool_env
from cosmoflow.train import runs

RUNS = Path("results/train/runs")
PUBLISHED = ("model.keras", "label_norm.json", "history.csv")


# -- helpers ----------------------------------------------------------------------------------

def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def index(work: Path) -> list[dict]:
    with open(work / RUNS / "runs.csv") as fh:
        return list(csv.DictReader(fh))


def history(path: Path) -> list[dict]:
    with open(path) as fh:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(fh)]


def copy_of(finished, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(finished["work"], work, symlinks=True)   # mtimes kept: up to date
    return work


def check_published(work: Path, folder: str) -> None:
    """results/train/* are copies of run ``folder``'s files and runs/latest points at it."""
    for name in PUBLISHED:
        assert sha(work / "results/train" / name) == sha(work / RUNS / folder / name), name
    assert os.readlink(work / RUNS / "latest") == folder


def check_first_run_intact(work: Path, finished) -> None:
    first = work / RUNS / finished["folder"]
    for name in PUBLISHED:
        assert sha(first / name) == finished["sha"][name], name
    assert runs.read_run(first)["status"] == "finished"


@pytest.fixture(scope="module")
def finished(tiny_run_done, tmp_path_factory):
    """A finished tiny run: simulations -> records -> train (2 epochs, 2 ranks) -> evaluate; a
    copy of the session's (conftest.tiny_run_done), which this module retrains."""
    work = copy_run(tiny_run_done, tmp_path_factory.mktemp("retrain"))
    folders = [p.name for p in (work / RUNS).iterdir() if p.is_dir() and not p.is_symlink()]
    assert len(folders) == 1 and folders[0].endswith("-1"), folders
    folder = folders[0]
    return {"work": work, "folder": folder, "id": folder[:-2],
            "sha": {n: sha(work / RUNS / folder / n) for n in PUBLISHED},
            "mtime": {n: (work / "results/train" / n).stat().st_mtime_ns for n in PUBLISHED}}


# -- run ids and attempt selection (no TensorFlow) ---------------------------------------------

def _ident(**train):
    base = {"ranks": 2, "threads_per_rank": 1, "mpi": "mpiexec", "epochs": 2, "lr": 1.0e-3}
    return runs.identity({"preset": "paper", "input_size": 16}, {"seed": 1234},
                         dict(base, **train), {"train": "a" * 64, "val": "b" * 64})


def test_run_id_ignores_threads_and_launcher_only():
    rid = runs.run_id(_ident())
    assert len(rid) == 12 and int(rid, 16) >= 0
    assert runs.run_id(_ident(threads_per_rank=4, mpi="srun --mpi=pmi2")) == rid
    for change in ({"lr": 5.0e-4}, {"epochs": 3}, {"ranks": 1}):
        assert runs.run_id(_ident(**change)) != rid, change
    other_data = dict(_ident(), inputs={"train": "c" * 64, "val": "b" * 64})
    assert runs.run_id(other_data) != rid


def test_manifest_digest_sees_a_record_checksum_not_the_config_copy(tmp_path):
    m = {"n_samples": 16, "files": [{"name": "train-0000.tfrecord", "sha256": "0" * 64}],
         "config": {"voxels": {"threads": 2}}}
    p = tmp_path / "manifest.json"
    p.write_text(json.dumps(m))
    d0 = runs.manifest_digest(p)
    p.write_text(json.dumps(dict(m, config={"voxels": {"threads": 8}})))
    assert runs.manifest_digest(tmp_path) == d0          # the folder works too
    m["files"][0]["sha256"] = "1" * 64
    p.write_text(json.dumps(m))
    assert runs.manifest_digest(p) != d0


def test_select_resumes_only_an_unfinished_attempt(tmp_path):
    rid = "0123456789ab"
    assert runs.select(tmp_path, rid) == (tmp_path / f"{rid}-1", False)
    runs.start(tmp_path / f"{rid}-1", _ident(), {"model": {}, "data": {}, "train": {}},
               resume=False, sources={}, world_size=2)
    assert runs.select(tmp_path, rid) == (tmp_path / f"{rid}-1", True)     # killed: resume
    assert runs.select(tmp_path, rid, fresh=True) == (tmp_path / f"{rid}-2", False)
    runs.end(tmp_path / f"{rid}-1", "stopped")                               # SIGTERM: resume
    assert runs.select(tmp_path, rid) == (tmp_path / f"{rid}-1", True)
    runs.end(tmp_path / f"{rid}-1", "finished", history=[{"epoch": 1, "val_loss": 0.5}])
    assert runs.select(tmp_path, rid) == (tmp_path / f"{rid}-2", False)    # never resumed
    (tmp_path / f"{rid}-10").mkdir()              # by attempt number, not name; no run.json
    assert runs.select(tmp_path, rid) == (tmp_path / f"{rid}-10", True)
    with open(runs.write_index(tmp_path)) as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["folder"], r["status"]) for r in rows} == {(f"{rid}-1", "finished"),
                                                          (f"{rid}-10", "unknown")}


# -- real snakemake ---------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.mpi
def test_finished_run_is_published_and_indexed(finished):
    work = finished["work"]
    check_published(work, finished["folder"])
    run_dir = work / RUNS / finished["folder"]
    assert (run_dir / "checkpoint" / "checkpoint.npz").exists()
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert cfg["train"]["epochs"] == 2 and cfg["model"]["input_size"] == 16
    rec = runs.read_run(run_dir)
    assert rec["id"] == finished["id"] and rec["epochs_done"] == 2 and rec["resumed"] == []
    assert rec["identity"]["inputs"]["train"] == runs.manifest_digest(
        work / "results/tfrecords/train/manifest.json")
    assert [(r["folder"], r["status"]) for r in index(work)] == [(finished["folder"], "finished")]
    assert "Nothing to be done" in run_snakemake(work, "-n", "train").stdout


@pytest.mark.slow
@pytest.mark.mpi
def test_forcerun_train_retrains_in_a_new_attempt(finished, tmp_path):
    work = copy_of(finished, tmp_path)
    rid = finished["id"]
    run_snakemake(work, "train", "--forcerun", "train")
    second = f"{rid}-2"
    rec = runs.read_run(work / RUNS / second)
    assert rec["status"] == "finished" and rec["resumed"] == [] and rec["epochs_done"] == 2
    log = (work / RUNS / second / "train.log").read_text()
    assert "from scratch" in log and "resumed from" not in log
    for name in PUBLISHED:
        assert (work / "results/train" / name).stat().st_mtime_ns > finished["mtime"][name]
    check_published(work, second)
    check_first_run_intact(work, finished)
    assert [(r["folder"], r["status"]) for r in index(work)] == [
        (finished["folder"], "finished"), (second, "finished")]


@pytest.mark.slow
@pytest.mark.mpi
def test_changed_lr_retrains_under_a_new_id(finished, tmp_path):
    work = copy_of(finished, tmp_path)
    lr = tmp_path / "lr.yaml"
    lr.write_text("train: {lr: 5.0e-4}\n")
    run_snakemake(work, "train", configfiles=(TINY, lr))
    new = [r for r in index(work) if r["id"] != finished["id"]]
    assert len(new) == 1 and new[0]["attempt"] == "1" and new[0]["status"] == "finished", new
    assert float(new[0]["lr"]) == 5.0e-4
    folder = new[0]["folder"]
    ran_with = yaml.safe_load((work / RUNS / folder / "config.yaml").read_text())
    assert ran_with["train"]["lr"] == 5.0e-4
    old_h = history(work / RUNS / finished["folder"] / "history.csv")
    new_h = history(work / "results/train/history.csv")
    assert len(new_h) == 2 and new_h[0]["lr"] < old_h[0]["lr"]
    check_published(work, folder)
    check_first_run_intact(work, finished)


@pytest.mark.slow
@pytest.mark.mpi
def test_changed_data_same_sample_count_retrains(finished, tmp_path):
    """The training records rewritten with 8 samples per file instead of one file: the same
    16 samples, other record files and checksums, read in another order: a new run id (the
    same records rewritten alike would give the same id, and a new attempt)."""
    work = copy_of(finished, tmp_path)
    manifest = work / "results/tfrecords/train/manifest.json"
    before = json.loads(manifest.read_text())
    pack = tmp_path / "pack.yaml"
    pack.write_text("tfrecords: {samples_per_file: 8}\n")
    # the config is no rerun trigger of the records (Snakemake asks only for manifest.json)
    run_snakemake(work, "train", "--forcerun", "tfrecords_train", configfiles=(TINY, pack))
    after = json.loads(manifest.read_text())
    assert after["n_samples"] == before["n_samples"]
    assert [f["sha256"] for f in after["files"]] != [f["sha256"] for f in before["files"]]
    new = [r for r in index(work) if r["id"] != finished["id"]]
    assert len(new) == 1 and new[0]["attempt"] == "1" and new[0]["status"] == "finished", new
    folder = new[0]["folder"]
    rec = runs.read_run(work / RUNS / folder)
    assert rec["identity"]["inputs"]["train"] == runs.manifest_digest(manifest)
    assert rec["identity"]["train"] == runs.read_run(
        work / RUNS / finished["folder"])["identity"]["train"]          # only the data differ
    assert "resumed from" not in (work / RUNS / folder / "train.log").read_text()
    assert len(history(work / "results/train/history.csv")) == 2
    check_published(work, folder)
    check_first_run_intact(work, finished)


# -- SIGKILL mid-epoch, then the same command again (the CLI with --runs, synthetic data) ------

N_TRAIN, N_VAL, EPOCHS = 256, 16, 3
SMALL = ["--set", "model.input_size=16", "--set", "model.conv_filters=[4,8,8,8]",
         "--set", "model.dense=[32,16]", "--set", "train.threads_per_rank=1",
         "--set", f"train.epochs={EPOCHS}", "--set", f"train.decay_epochs={EPOCHS}",
         "--synthetic", f"{N_TRAIN}:{N_VAL}"]


def _train_cmd(base: Path) -> list[str]:
    return [str(Path(sys.executable).parent / "mpiexec"), "-n", "2", sys.executable, "-m",
            "cosmoflow.train", "--config", str(ROOT / "config/config.yaml"), *SMALL,
            "--ranks", "2", "--out", str(base / "out"), "--runs", str(base / "runs")]


def _only_run(base: Path) -> Path:
    (run_dir,) = [p for p in (base / "runs").iterdir() if p.is_dir() and not p.is_symlink()]
    return run_dir


def _weights(run_dir: Path) -> list[np.ndarray]:
    from cosmoflow.train.checkpoint import checkpoint_path, load_checkpoint

    return load_checkpoint(checkpoint_path(run_dir))[0]


@pytest.mark.slow
@pytest.mark.mpi
def test_sigkill_mid_epoch_then_rerun_resumes_to_the_same_weights(tmp_path):
    env = tool_env()
    full, part = tmp_path / "full", tmp_path / "part"
    subprocess.run(_train_cmd(full), cwd=ROOT, env=env, check=True, capture_output=True,
                   timeout=300)
    proc = subprocess.Popen(_train_cmd(part), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    # epoch 2's training time in the uninterrupted run (epoch 1's includes tracing)
    line = next(x for x in (_only_run(full) / "train.log").read_text().splitlines()
                if " epoch 2: " in x)
    epoch_s = N_TRAIN / float(line.split("samples_per_s=")[1].split(",")[0])
    try:   # wait for epoch 1's checkpoint, then kill everything early in epoch 2
        deadline, ckpt = time.time() + 240, []
        while not ckpt and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
            ckpt = list((part / "runs").glob("*-1/checkpoint/checkpoint.npz"))
        assert ckpt, "epoch 1 never ended"
        # a quarter of the uninterrupted run's epoch 2: epoch times vary with the load, and on a
        # busy 2-core machine a kill after half of it once came after this run's epoch 2 ended
        time.sleep(0.25 * epoch_s)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
    run_dir = _only_run(part)
    from cosmoflow.train.checkpoint import checkpoint_path, load_checkpoint

    assert load_checkpoint(checkpoint_path(run_dir))[2]["epoch"] == 1
    assert runs.read_run(run_dir)["status"] == "running"          # nobody could record the kill
    assert not (part / "out" / "model.keras").exists()

    rerun = subprocess.run(_train_cmd(part), cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    assert _only_run(part) == run_dir                            # the same attempt, resumed
    assert "resuming the unfinished attempt" in rerun.stderr
    assert f"resumed from {checkpoint_path(run_dir)}: epoch 1" in rerun.stderr
    rec = runs.read_run(run_dir)
    assert rec["status"] == "finished" and len(rec["resumed"]) == 1
    assert run_dir.name == _only_run(full).name                  # same config, same id
    h_full, h_part = history(full / "out/history.csv"), history(part / "out/history.csv")
    assert len(h_part) == len(h_full) == EPOCHS
    for r, f in zip(h_part, h_full):
        for key in ("loss", "val_loss", "lr", "step"):
            assert r[key] == pytest.approx(f[key], rel=1e-6, abs=1e-9), (key, r, f)
    for x, y in zip(_weights(run_dir), _weights(_only_run(full))):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)
