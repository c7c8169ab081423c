"""End to end: every rule of the DAG on the tiny config with the real snakemake (the session's
shared run, conftest.tiny_run_done), then reruns and the report (on a copy)."""
import json
import re
import time

import h5py
import numpy as np
import pytest

from conftest import TINY, copy_run, run_snakemake

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_run(tiny_run_done, tmp_path_factory):
    """A copy of the session's finished tiny run: this module reruns and changes it."""
    work = copy_run(tiny_run_done, tmp_path_factory.mktemp("e2e"))
    return work


def _planned(proc) -> dict:
    return {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, re.M)}


def test_every_declared_output_exists(tiny_run):
    work = tiny_run
    listing = run_snakemake(work, "--list-rules").stdout.split()
    assert {"cosmology", "sample", "power_spectrum", "initial_conditions", "cola", "voxelize",
            "train", "evaluate"} <= set(listing)
    summary = run_snakemake(work, "--summary").stdout
    rows = [line.split("\t") for line in summary.splitlines()[1:] if "\t" in line]
    assert len(rows) > 30
    for row in rows:
        path, status = row[0], row[-2] if len(row) > 2 else ""
        assert (work / path).exists(), f"declared output {path} is missing"
        assert (work / path).stat().st_size > 0, f"{path} is empty"
    for sim in ("00000", "00001", "00002", "00003"):
        with h5py.File(work / f"results/sims/{sim}/snapshot_z0.00.hdf5") as h5:
            pos = h5["positions"][...]
            assert pos.shape == (32**3, 3) and pos.min() >= 0 and pos.max() < 64.0
        with h5py.File(work / f"results/voxels/{sim}/z0.00.h5") as h5:
            assert int(h5["counts"][...].sum()) == 32**3


def test_metrics_and_splits(tiny_run):
    work = tiny_run
    m = json.loads((work / "results/evaluate/metrics.json").read_text())
    assert m["label_names"] == ["Omega_m", "sigma_8", "n_s"]
    assert m["n_test"] == 8 and m["n_train"] == 16  # 1 test sim x 8 sub-volumes; 2 train sims
    per_sample = ("network", "mean", "pk_ridge", "summary", "summary_ridge")
    levels = {"per_sample": ("network", per_sample),
              "sample_level": ("network_stats", per_sample + ("network_stats",)),
              "per_simulation": ("network", per_sample + ("box_pk_ridge", "box_stats_ridge")),
              "simulation_level": ("network_box", per_sample + ("box_pk_ridge", "box_stats_ridge", "network_box"))}
    for level, (ref, predictors) in levels.items():
        assert set(m[level]["metrics"]) == set(predictors)
        for predictor in predictors:
            for name in m["label_names"]:
                row = m[level]["metrics"][predictor][name]
                assert np.isfinite(row["rel_err_true"]) and np.isfinite(row["r2_prior"])
                assert len(row["interval"]["rmse"]) == 2
        assert set(m[level]["comparisons"]) == {f"{ref}_vs_{p}" for p in predictors if p != ref}
        assert set(m[level]["best_baseline"]) == set(m["label_names"])
    # the per-simulation figures are those of predictions_simulation.csv
    import csv

    with open(work / "results/evaluate/predictions_simulation.csv") as fh:
        sim_rows = list(csv.DictReader(fh))
    assert len(sim_rows) == m["n_test_sims"]
    for name in m["label_names"]:
        err = np.array([float(r[f"network_box_{name}"]) - float(r[f"true_{name}"]) for r in sim_rows])
        assert m["simulation_level"]["metrics"]["network_box"][name]["rmse"] == pytest.approx(
            np.sqrt(np.mean(err ** 2)), rel=1e-9)
    assert m["n_test_sims"] == 1 and any("few test simulations" in w for w in m["warnings"])
    # the network's figures are those of its predictions in predictions.csv (recomputed here)
    with open(work / "results/evaluate/predictions.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == m["n_test"]
    for name in m["label_names"]:
        err = np.array([float(r[f"network_stats_{name}"]) - float(r[f"true_{name}"]) for r in rows])
        assert m["sample_level"]["metrics"]["network_stats"][name]["rmse"] == pytest.approx(
            np.sqrt(np.mean(err ** 2)), rel=1e-9)
        err = np.array([float(r[f"pred_{name}"]) - float(r[f"true_{name}"]) for r in rows])
        net = m["per_sample"]["metrics"]["network"][name]
        assert net["rmse"] == pytest.approx(np.sqrt(np.mean(err ** 2)), rel=1e-9)
        assert net["bias"] == pytest.approx(err.mean(), rel=1e-9, abs=1e-12)
        lo, hi = net["interval"]["rmse"]
        assert lo <= net["rmse"] <= hi or np.isclose(lo, hi)
    sims = {s: set(json.loads((work / f"results/tfrecords/{s}/manifest.json").read_text())["sims"])
            for s in ("train", "val", "test")}
    assert not (sims["train"] & sims["val"] or sims["train"] & sims["test"] or sims["val"] & sims["test"])
    for png in ("loss", "pred_vs_true", "errors", "examples", "pk_z0.00"):
        assert (work / f"results/evaluate/{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerun_does_nothing_and_one_sim_is_redone_alone(tiny_run):
    work = tiny_run
    again = run_snakemake(work, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    # thread counts do not change results: changing them reruns nothing
    threads = work / "threads.yaml"
    threads.write_text("cola: {threads: 1}\nvoxels: {threads: 1}\nics: {threads: 1}\n")
    again = run_snakemake(work, "-n", configfiles=(TINY, threads))
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout[-3000:]
    snap = work / "results/sims/00002/snapshot_z0.00.hdf5"
    snap.unlink()
    plan = _planned(run_snakemake(work, "-n", "--quiet", "rules"))
    # exactly that simulation's COLA + voxels, then its split's records, training, evaluation
    assert plan.get("cola") == 1 and plan.get("voxelize") == 1, plan
    assert plan.get("initial_conditions") is None and plan.get("power_spectrum") is None, plan
    assert plan.get("tfrecords_train") == 1 and plan.get("tfrecords_val") is None, plan
    assert plan.get("train") == 1 and plan.get("evaluate") == 1, plan
    before = (work / "results/sims/00003/snapshot_z0.00.hdf5").stat().st_mtime_ns
    run_snakemake(work, "results/sims/00002/snapshot_z0.00.hdf5")
    assert snap.exists()
    assert (work / "results/sims/00003/snapshot_z0.00.hdf5").stat().st_mtime_ns == before
    # and the real rerun of the whole plan above in one `snakemake`: that simulation, its split's
    # records, the training and the evaluation are redone, the other splits' records are not
    # (rebuilding the snapshot alone, as just done, reproduces it byte for byte, and Snakemake
    # then rightly reruns nothing downstream: its checksums of small files are unchanged)
    snap.unlink()
    mtime = {p: (work / p).stat().st_mtime_ns for p in (
        "results/tfrecords/train/manifest.json", "results/tfrecords/val/manifest.json",
        "results/tfrecords/test/manifest.json", "results/train/model.keras",
        "results/evaluate/metrics.json")}
    run_snakemake(work)
    assert snap.exists()
    redone = {p for p, t in mtime.items() if (work / p).stat().st_mtime_ns != t}
    assert redone == {"results/tfrecords/train/manifest.json", "results/train/model.keras",
                      "results/evaluate/metrics.json"}, redone
    again = run_snakemake(work, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_report(tiny_run):
    work = tiny_run
    run_snakemake(work, "--report", str(work / "report.html"))
    html = (work / "report.html").read_text(errors="replace")
    assert "metrics.json" in html and "pred_vs_true.png" in html


def test_redshift_channels_run_end_to_end(tiny_run_done, tmp_path):
    """tfrecords.redshift_channels: the z = 0 and z = 1 snapshots of each simulation as the two
    channels of one sample, through records, training and evaluation with the real snakemake,
    run as `.venv/bin/snakemake` without the venv on PATH (train and evaluate must still find
    the venv's Python: the system's has no TensorFlow / mpi4py, or there is no `python`).
    It starts from the session's tiny run's cosmologies, P(k) and ICs, which the second
    redshift does not change (Snakemake reruns COLA, whose outputs it does change, and all
    after it)."""
    copy_run(tiny_run_done, tmp_path, only=("cosmologies.csv", "sims", "power", "logs", "benchmarks"))
    extra = tmp_path / "channels.yaml"
    extra.write_text("cola: {redshifts: [0.0, 1.0]}\ntfrecords: {redshift_channels: true}\n"
                     "train: {epochs: 1, decay_epochs: 1}\n")
    plan = _planned(run_snakemake(tmp_path, "-n", "--quiet", "rules", configfiles=(TINY, extra)))
    assert plan.get("cola") == 4 and plan.get("voxelize") == 8, plan
    assert not {"cosmology", "power_spectrum", "initial_conditions"} & set(plan), plan
    run_snakemake(tmp_path, configfiles=(TINY, extra), timeout=900, venv_on_path=False)
    res = tmp_path / "results"
    for split, n in (("train", 16), ("val", 8), ("test", 8)):  # 8 sub-volumes per simulation
        m = json.loads((res / f"tfrecords/{split}/manifest.json").read_text())
        assert m["sample_shape"] == [16, 16, 16, 2] and m["channels"] == [0.0, 1.0]
        assert m["n_samples"] == n
    import keras
    model = keras.models.load_model(res / "train/model.keras", compile=False)
    assert tuple(model.input.shape) == (None, 16, 16, 16, 2)
    metrics = json.loads((res / "evaluate/metrics.json").read_text())
    assert metrics["n_test"] == 8 and metrics["n_train"] == 16
    for png in ("examples", "pk_z0.00", "pk_z1.00"):
        assert (res / f"evaluate/{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = (res / "evaluate/predictions.csv").read_text().splitlines()
    assert rows[0].startswith("sim,subvolume,z,") and rows[1].split(",")[2] == "0 1"
