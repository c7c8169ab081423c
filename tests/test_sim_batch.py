"""sims.batch = K: one job runs every simulation stage of K simulations in one process
(workflow/rules/simulate.smk, cosmoflow.sim_batch). Real Snakemake runs of the tiny config: the
same files as one job per stage and simulation, one simulation rerun, a failure named."""
from __future__ import annotations

import importlib.util
import re
import shutil

import pytest
import yaml

from conftest import ROOT, TINY, copy_run, run_snakemake

_spec = importlib.util.spec_from_file_location("bench_campaign", ROOT / "benchmarks" / "bench_campaign.py")
bench_campaign = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_campaign)


def overlay(path, **sims):
    path.write_text(yaml.safe_dump({"sims": {"n_sims": 4, "n_val": 1, "n_test": 1, **sims}}))
    return path


def job_counts(out: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", out, re.M)}


@pytest.fixture(scope="module")
def runs(tiny_run_done, tmp_path_factory):
    """The voxels stage of the 4 tiny simulations, per stage (a: the simulation stages' outputs
    of the session's finished tiny run, one job per stage and simulation) and in batches of 3
    (b)."""
    a, b = tmp_path_factory.mktemp("per_stage"), tmp_path_factory.mktemp("batched")
    copy_run(tiny_run_done, a, only=("sims", "power", "voxels", "logs", "benchmarks"))
    batched = overlay(b / "batch.yaml", batch=3)
    plan = run_snakemake(b, "voxels", "-n", "--quiet", "rules", configfiles=(TINY, batched))
    done = run_snakemake(b, "voxels", configfiles=(TINY, batched))
    return a, b, batched, job_counts(plan.stdout), done


def test_compare_outputs_sees_a_changed_dataset_and_a_missing_file(tmp_path):
    import h5py
    import numpy as np

    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        with h5py.File(tmp_path / d / "f.h5", "w") as f:
            f["a"] = np.arange(4.0) + (d == "y") * 1e-12
            f.attrs["path"] = str(tmp_path / d / "f.h5")
    (tmp_path / "x" / "t.txt").write_text("t")
    diffs = bench_campaign.compare_outputs(tmp_path / "x", tmp_path / "y")
    assert any("f.h5: dataset a differs" in d for d in diffs)
    assert any("only in" in d and "t.txt" in d for d in diffs)
    assert not any("attributes" in d for d in diffs)   # a path naming its own folder is equal


def test_batches_plan_one_job_per_batch_and_no_per_stage_jobs(runs):
    *_, counts, _ = runs
    assert counts.get("simulate_00000") == 1 and counts.get("simulate_00001") == 1, counts
    assert not {"cosmology", "power_spectrum", "initial_conditions", "cola", "voxelize"} & set(counts), counts


def test_batches_write_the_same_files_as_one_job_per_stage(runs):
    a, b, *_ = runs
    ra, rb = a / "results", b / "results"
    assert bench_campaign.compare_outputs(ra, rb) == []
    n_files = len([p for p in rb.rglob("*.h*5") if "voxels" in p.parts or "sims" in p.parts])
    assert n_files == 4 * 3   # ics, snapshot (one redshift), voxels per simulation
    logs = lambda r: sorted(p.relative_to(r) for p in (r / "logs").rglob("*.log")
                            if p.parent.name in ("cosmology", "power", "ics", "cola", "voxels"))
    assert logs(ra) == logs(rb) and len(logs(rb)) == 4 * 5
    for rel in logs(rb):
        assert (rb / rel).stat().st_size > 0, rel
    # the same log lines (the cosmology log has no timings; COLA's has one line per step)
    assert (rb / "logs/cosmology/00003.log").read_text() == (ra / "logs/cosmology/00003.log").read_text()
    lines = lambda r: (r / "logs/cola/00003.log").read_text().splitlines()
    assert len(lines(rb)) == len(lines(ra)) > 3
    assert (rb / "benchmarks/simulate/00000.tsv").exists()


def test_one_simulation_is_rerun_by_its_batch_and_comes_out_the_same(runs):
    a, b, batched, *_ = runs
    rb = b / "results"
    first_batch = rb / "voxels/00000/z0.00.h5"
    before = first_batch.stat().st_mtime_ns
    (rb / "voxels/00003/z0.00.h5").unlink()
    plan = run_snakemake(b, "voxels", "-n", "--quiet", "rules", configfiles=(TINY, batched))
    assert job_counts(plan.stdout).get("simulate_00001") == 1 and "simulate_00000" not in plan.stdout
    run_snakemake(b, "results/voxels/00003/z0.00.h5", configfiles=(TINY, batched))
    assert first_batch.stat().st_mtime_ns == before
    assert bench_campaign.compare_outputs(a / "results", rb) == []


def test_a_failing_simulation_stops_its_batch_naming_it_and_leaves_no_outputs(tmp_path):
    confs = tmp_path / "confs"
    confs.mkdir()
    (confs / "00001.conf").write_text("[setup]\nboxlength = not-a-number\n")
    cfg = overlay(tmp_path / "batch.yaml", batch=2)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"ics": {"conf_dir": str(confs)}}))
    proc = run_snakemake(tmp_path, "voxels", configfiles=(TINY, cfg, bad), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "sim 00001: stage ics failed" in out and "logs/ics/00001.log" in out, out[-3000:]
    assert (tmp_path / "results/logs/ics/00001.log").read_text().strip()
    # the failed job's outputs are gone (none looks complete); no temporary file is left
    assert not list((tmp_path / "results/sims/00001").glob("snapshot*"))
    assert not (tmp_path / "results/sims/00000/cosmology.json").exists()
    assert not list((tmp_path / "results").rglob(".tmp-*"))


def test_batch_must_be_a_positive_integer(tmp_path):
    cfg = overlay(tmp_path / "batch.yaml", batch=0)
    proc = run_snakemake(tmp_path, "voxels", "-n", configfiles=(TINY, cfg), check=False)
    assert proc.returncode != 0 and "batch" in proc.stdout + proc.stderr
