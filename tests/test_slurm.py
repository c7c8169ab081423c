"""Cluster runs on a real single-node Slurm (tests/slurm/local_cluster.sh, installed with apt).

The tiny config's DAG runs through `snakemake --profile slurm` (the profile users type, resolved
from the repository root), batched two simulations per Slurm job; the jobs are checked in
Slurm's own records; the dry-run submission count must equal the real one. A 2-rank MPI job
runs through `srun --mpi=pmi2` (the mpich wheel's launcher under Slurm).
Skipped only where Slurm is missing and cannot be installed (not root, no apt-get).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BIN, ROOT, TINY, tool_env
from cosmoflow import sampling
from pycola_wrapper.power import PowerTable

pytestmark = pytest.mark.slurm

CLUSTER = ROOT / "tests" / "slurm" / "local_cluster.sh"
RUN_LIMIT_S = 300           # hard limit of one snakemake run (a hung executor ignores SIGTERM)
SIMS_PER_JOB = 2            # tiny config: 4 simulations -> 2 group jobs
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+) \(log: ([^)]+)\)")
PLAN = re.compile(r"Cluster \(Slurm\) jobs to submit: (\d+) ")
GROUP_SIZE = re.compile(r"group jobs 'simulation' of <= \d+ rule jobs, each <= (\d+) CPUs, "
                        r"(\d+) MB, (\d+) min")


def _scontrol(job_id: str) -> dict:
    out = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True,
                         text=True, check=True).stdout
    return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)


@pytest.fixture(scope="module")
def slurm():
    """Start the local cluster for this module; always stop it again. Yields the partition."""
    if not CLUSTER.exists():
        pytest.fail(f"{CLUSTER} missing")
    proc = subprocess.run(["bash", str(CLUSTER), "start"], capture_output=True, text=True,
                          timeout=900)
    try:
        if proc.returncode == 3:
            pytest.skip(f"Slurm cannot be installed here: {proc.stderr.strip()}")
        assert proc.returncode == 0, f"local_cluster.sh start failed:\n{proc.stderr[-4000:]}"
        part = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True,
                              check=True).stdout.split()
        default = [p.rstrip("*") for p in part if p.endswith("*")]
        assert default, f"no default partition in sinfo: {part}"
        yield default[0]
    finally:
        subprocess.run(["bash", str(CLUSTER), "stop"], capture_output=True, timeout=120)


# The per-simulation chain (what the cluster batches) and the table: a shallow DAG keeps the
# test within minutes; MPI under Slurm is checked by its own srun test below.
TARGETS = ("voxels", "cosmologies")


def _snakemake(workdir, *args, partition: str, check: bool = True):
    # cwd = repository root: that is where `--profile slurm` resolves (./slurm); -d keeps
    # .snakemake/, the Slurm logs and results/ in the test's folder.
    cmd = ["timeout", "-k", "10", str(RUN_LIMIT_S), str(BIN / "snakemake"), "--profile", "slurm",
           "-d", str(workdir), "--cores", "1", "--group-components", f"simulation={SIMS_PER_JOB}",
           "--slurm-init-seconds-before-status-checks", "5", "--latency-wait", "10",
           *TARGETS, *args, "--configfile", str(TINY)]
    env = tool_env(COSMOFLOW_SLURM_PARTITION=partition)
    env.pop("COSMOFLOW_SLURM_ACCOUNT", None)   # no accounting here: submit without account
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=RUN_LIMIT_S + 30)
    out = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{out[-8000:]}")
    return out


def test_tiny_dag_runs_under_slurm(slurm, tmp_path):
    plan = _snakemake(tmp_path, "-n", partition=slurm)
    planned = PLAN.search(plan)
    assert planned, f"dry run did not report a Slurm job count:\n{plan[-3000:]}"
    n_sims = 4
    # ceil(4 / 2) group jobs at least (the table rule is local); later stages add their own jobs
    assert int(planned.group(1)) >= -(-n_sims // SIMS_PER_JOB), planned.group(0)

    out = _snakemake(tmp_path, partition=slurm)

    # every job went through sbatch: as many submissions as planned, each COMPLETED in Slurm
    jobs = dict(SUBMITTED.findall(out))
    assert len(jobs) == int(planned.group(1)), (planned.group(0), jobs)
    run_id = re.search(r"SLURM run ID: (\S+)", out).group(1)
    for job_id, log in jobs.items():
        info = _scontrol(job_id)
        assert info["JobState"] == "COMPLETED", (job_id, info["JobState"], log)
        assert info["ExitCode"] == "0:0"
        assert info["Partition"] == slurm          # COSMOFLOW_SLURM_PARTITION reached sbatch
        assert info["JobName"] == run_id
        assert Path(log).resolve().is_relative_to((tmp_path / ".snakemake/slurm_logs").resolve())
        assert "Finished jobid" in Path(log).read_text(), f"Slurm log {log} shows no finished rule"
    groups = [j for j, log in jobs.items() if "/group_simulation" in log]
    assert len(groups) == -(-n_sims // SIMS_PER_JOB), jobs
    # the plan's per-job request is what sbatch asked for (--cores 1: one CPU, layers stacked)
    cpus, mem_mb, minutes = map(int, GROUP_SIZE.search(plan).groups())
    for job_id in groups:
        info = _scontrol(job_id)
        h, m, _s = map(int, info["TimeLimit"].split(":"))
        assert (int(info["NumCPUs"]), info["MinMemoryNode"], 60 * h + m) == \
            (cpus, f"{mem_mb}M", minutes), (job_id, plan[-400:])

    # every output of the DAG exists, is complete and needs no update
    summary = subprocess.run([str(BIN / "snakemake"), *TARGETS, "--summary", "-d", str(tmp_path),
                              "--configfile", str(TINY)], cwd=ROOT, capture_output=True,
                             text=True, env=tool_env(), check=True).stdout
    rows = [line.split("\t") for line in summary.splitlines()[1:] if line.strip()]
    assert len(rows) >= 2 * n_sims + 1, summary
    for output, _date, rule, logs, status, plan_col in rows:
        path = tmp_path / output
        assert path.is_file() and path.stat().st_size > 0, f"missing or empty output {output}"
        assert (status, plan_col) == ("ok", "no update"), (output, rule, status, plan_col)
        for log in (entry.strip() for entry in logs.split(",")):
            if log in ("", "-"):
                continue
            assert (tmp_path / log).is_file(), f"rule {rule}: log {log} missing"

    rows = sampling.read_table(tmp_path / "results/cosmologies.csv")
    assert [r["sim"] for r in rows] == [sampling.sim_id(i) for i in range(n_sims)]
    for r in rows:
        table = PowerTable.load(tmp_path / f"results/power/{r['sim']}.h5")
        assert table.attrs["sim"] == r["sim"] and len(table.k) == len(table.pk) > 0


def test_mpi_job_through_srun_sees_world_size_two(slurm):
    code = ("from mpi4py import MPI; c = MPI.COMM_WORLD; "
            "print(f'rank {c.Get_rank()} size {c.Get_size()}', flush=True)")
    proc = subprocess.run(["srun", "--mpi=pmi2", "-n", "2", "-p", slurm, "--time=2",
                           sys.executable, "-c", code], capture_output=True, text=True,
                          env=tool_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    seen = sorted(re.findall(r"rank (\d+) size (\d+)", proc.stdout))
    assert seen == [("0", "2"), ("1", "2")], proc.stdout + proc.stderr


def test_cluster_script_status_reports_running_daemons(slurm):
    out = subprocess.run(["bash", str(CLUSTER), "status"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    for daemon in ("munged", "slurmctld", "slurmd"):
        assert re.search(rf"{daemon}: running \(pid \d+\)", out.stdout), out.stdout
    assert shutil.which("sbatch")


def _dry_run(*args: str) -> str:
    proc = subprocess.run([str(BIN / "snakemake"), *TARGETS, *args, "-n", "--configfile", str(TINY)],
                          cwd=ROOT, capture_output=True, text=True, env=tool_env(), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_profile_resolves_by_name_and_path_and_plans_batches():
    """No Slurm needed: the profile is found as `slurm` from the repository root and by path,
    batches 16 simulations per job by default, and a local run never submits."""
    by_name = PLAN.search(_dry_run("--profile", "slurm"))
    # tiny: 4 simulations fit one group job of 16; the table rule runs locally
    assert by_name and by_name.group(1) == "1", by_name
    per_sim = PLAN.search(_dry_run("--profile", str(ROOT / "workflow/profiles/slurm"),
                                   "--group-components", "simulation=1"))
    assert per_sim and per_sim.group(1) == "4", per_sim
    local = _dry_run("--cores", "1")
    assert not PLAN.search(local)       # local dry runs print no cluster plan
    for default in (ROOT / "profiles" / "default", ROOT / "workflow" / "profiles" / "default"):
        for f in default.glob("*.yaml"):
            assert "slurm" not in f.read_text(), f"{f}: auto-loaded profile must not submit"
