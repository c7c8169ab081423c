"""Cluster runs on a real single-node Slurm (tests/slurm/local_cluster.sh, installed with apt).

The command users type, `snakemake --profile slurm --configfile tests/config/tiny.yaml` with no
other flag, runs the tiny config's whole DAG in a copy of the repository (the profile found as
`./slurm`, as from a user's clone): its jobs fit the node the profile read from sinfo, their
number equals the dry run's plan, Slurm records them all COMPLETED. A job Slurm can never start
stops the run in under 2 minutes with a message naming it; a job no node could run stops it
before anything is submitted. Sizing from the partition (MaxTime, node memory) is checked on dry
runs that need no Slurm. A 2-rank MPI job runs through `srun --mpi=pmi2`.
Tests with the `slurm` fixture are skipped only where Slurm is missing and cannot be installed
(not root, no apt-get).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BIN, ROOT, TINY, tool_env
from cosmoflow import cluster
from slurm_literal import CLUSTER
from slurm_literal import checkout as _checkout
from slurm_literal import literal as _literal
from slurm_literal import literal_result, start_cluster, stop_cluster, wait_cluster_started
from slurm_literal import user_env as _user_env

pytestmark = pytest.mark.slurm

FAIL_FAST_S = 120           # a run with a job Slurm can never start must end within this
N_SIMS = 4                  # tests/config/tiny.yaml
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+) \(log: ([^)]+)\)")
PLAN = re.compile(r"Cluster \(Slurm\) jobs to submit: (\d+) ")
GROUP_SIZE = re.compile(r"(\d+) group jobs 'simulation' of <= (\d+) rule jobs, each <= (\d+) CPUs, "
                        r"(\d+) MB, (\d+) min")


def _scontrol(job_id: str) -> dict:
    out = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True,
                         text=True, check=True).stdout
    return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)


@pytest.fixture(scope="module")
def slurm():
    """Start the local cluster for this module (already up when the session started the
    literal run in the background: tests/slurm_literal.py); always stop it again. Yields the
    default partition as sinfo and scontrol report it (``cluster.Partition``)."""
    if not CLUSTER.exists():
        pytest.fail(f"{CLUSTER} missing")
    wait_cluster_started()
    proc = start_cluster()
    try:
        if proc.returncode == 3:
            pytest.skip(f"Slurm cannot be installed here: {proc.stderr.strip()}")
        assert proc.returncode == 0, f"local_cluster.sh start failed:\n{proc.stderr[-4000:]}"
        default = cluster.find_partition(cluster.query_partitions(refresh=True))
        assert default is not None, "no default partition in sinfo"
        yield default
    finally:
        stop_cluster()
        cluster.query_partitions(refresh=True)
        # the conf it wrote is gone: later `snakemake` starts do not wait ~9 s on scontrol
        conf = Path("/etc/slurm/slurm.conf")
        assert not (conf.exists() and "local_cluster.sh" in conf.read_text()), \
            f"{conf} left behind by {CLUSTER} stop"


def _run_ids_in_queue(repo: Path) -> list:
    out = subprocess.run(["squeue", "--me", "-h", "-o", "%i|%Z"], capture_output=True, text=True,
                         check=True).stdout
    return [line.split("|")[0] for line in out.splitlines()
            if line.split("|")[-1] == str(repo)]


def test_literal_profile_run_completes(slurm):
    """The literal command, run in the background since the session collected this test
    (tests/slurm_literal.py): its dry run's plan, then the run, checked here."""
    result = literal_result()
    assert "error" not in result, result.get("error")
    repo = result["repo"]
    assert (repo / "slurm").is_symlink()   # the profile found as ./slurm, as in a user's clone
    rc, plan, _ = result["plan"]
    assert rc == 0, plan[-4000:]
    planned = PLAN.search(plan)
    assert planned, f"dry run did not report a Slurm job count:\n{plan[-3000:]}"
    n_groups, group_rules, cpus, mem_mb, minutes = map(int, GROUP_SIZE.search(plan).groups())
    # the profile read the node's CPUs from sinfo: all 4 simulations (2 threads each) fit one
    # group job as wide as the node (with the old `cores: 32` it asked 8 CPUs and never started)
    assert (n_groups, cpus) == (1, slurm.cpus[0]), planned.group(0)
    assert group_rules == 5 * N_SIMS
    assert mem_mb <= slurm.mem_mb[0] and (slurm.minutes is None or minutes <= slurm.minutes)

    rc, out, seconds = result["run"]
    assert rc == 0, f"the literal run failed ({rc}) after {seconds:.0f} s:\n{out[-8000:]}"
    print(f"literal `snakemake --profile slurm` of the tiny config: {seconds:.0f} s")

    # every job went through sbatch: as many submissions as planned, each COMPLETED in Slurm
    jobs = dict(SUBMITTED.findall(out))
    assert len(jobs) == int(planned.group(1)), (planned.group(0), jobs)
    run_id = re.search(r"SLURM run ID: (\S+)", out).group(1)
    for job_id, log in jobs.items():
        info = _scontrol(job_id)
        assert info["JobState"] == "COMPLETED", (job_id, info["JobState"], log)
        assert info["ExitCode"] == "0:0"
        assert info["Partition"] == slurm.name          # sinfo's default partition
        assert info["JobName"] == run_id
        assert Path(log).resolve().is_relative_to((repo / ".snakemake/slurm_logs").resolve())
        assert "Finished jobid" in Path(log).read_text(), f"Slurm log {log} shows no finished rule"
        assert int(info["NumCPUs"]) <= slurm.cpus[0], (job_id, info["NumCPUs"])
    groups = [j for j, log in jobs.items() if "/group_simulation" in log]
    assert len(groups) == 1, jobs
    # the plan's per-job request is what sbatch asked for
    info = _scontrol(groups[0])
    h, m, _s = map(int, info["TimeLimit"].split(":"))
    assert (int(info["NumCPUs"]), info["MinMemoryNode"], 60 * h + m) == \
        (cpus, f"{mem_mb}M", minutes), (groups[0], plan[-400:])

    # the whole DAG ran: the last stage's outputs exist, a second dry run has nothing to do
    metrics = repo / "results" / "evaluate" / "metrics.json"
    assert metrics.is_file() and metrics.stat().st_size > 0
    rc, again, _ = _literal(repo, "-n")
    assert rc == 0 and "Nothing to be done" in again, again[-2000:]
    assert not _run_ids_in_queue(repo)


def test_job_slurm_never_starts_fails_the_run_fast(slurm, tmp_path):
    """The reported hang: a group job wider than the node pends with PartitionConfig forever.
    COSMOFLOW_SLURM_CPUS claims 4x the node's CPUs, so the profile and the sizing trust it and
    submit such a job; the watch must stop the run and name the job."""
    claimed = 2 * N_SIMS             # 4 simulations x 2 threads stacked side by side
    if slurm.cpus[1] >= claimed:
        pytest.skip(f"the node has {slurm.cpus[1]} CPUs: a {claimed}-CPU group job would start")
    repo = _checkout(tmp_path / "cosmoflow")
    rc, out, seconds = _literal(repo, env=_user_env(COSMOFLOW_SLURM_CPUS=str(claimed)),
                                limit=FAIL_FAST_S + 60)
    print(f"run with a never-starting job ended after {seconds:.0f} s")
    assert rc not in (0, 124, 137), f"rc {rc} after {seconds:.0f} s:\n{out[-4000:]}"
    assert seconds < FAIL_FAST_S, f"took {seconds:.0f} s:\n{out[-4000:]}"
    submitted = dict(SUBMITTED.findall(out))
    assert submitted, out[-4000:]
    message = out[out.index("Slurm can never start"):]
    job_id = next(iter(submitted))
    assert f"Slurm job {job_id}, Snakemake job 'simulation_" in message, message
    assert "pending reason PartitionConfig" in message
    assert f"asks {claimed} CPUs" in message
    assert f"nodes of {slurm.cpus[0]} CPUs" in message                    # what the node has
    assert f"COSMOFLOW_SLURM_CPUS={claimed}" in message
    assert f"Slurm log: {submitted[job_id]}" in message
    assert _scontrol(job_id)["JobState"] == "CANCELLED"
    assert not _run_ids_in_queue(repo), "jobs of the stopped run are still queued"


def test_job_over_node_memory_stops_before_submitting(slurm, tmp_path):
    repo = _checkout(tmp_path / "cosmoflow")
    too_much = slurm.mem_mb[1] + 1000
    rc, out, seconds = _literal(repo, "--set-resources", f"voxelize:mem_mb={too_much}",
                                limit=FAIL_FAST_S)
    assert rc == 1, f"rc {rc} after {seconds:.0f} s:\n{out[-4000:]}"
    assert not SUBMITTED.search(out), "a job was submitted"
    assert "could never start (nothing was submitted)" in out, out[-3000:]
    assert f"MB > {slurm.mem_mb[1]}" in out
    alone = rf"rule voxelize \(sim=0000\d, z=0\.00\) alone asks \d+ CPUs, {too_much} MB"
    assert re.search(alone, out), out[-3000:]
    assert f"partition '{slurm.name}' (sinfo)" in out


def test_mpi_job_through_srun_sees_world_size_two(slurm):
    code = ("from mpi4py import MPI; c = MPI.COMM_WORLD; "
            "print(f'rank {c.Get_rank()} size {c.Get_size()}', flush=True)")
    proc = subprocess.run(["nice", "-n", "19", "srun", "--mpi=pmi2", "-n", "2", "-p", slurm.name,
                           "--time=2", sys.executable, "-c", code], capture_output=True, text=True,
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
    assert slurm.minutes == cluster.parse_minutes("12:00:00")   # the script's finite MaxTime


# ---- dry runs: no Slurm needed (the node is given by the COSMOFLOW_SLURM_* variables) ---------

NODE = {"COSMOFLOW_SLURM_CPUS": "2", "COSMOFLOW_SLURM_MEM_MB": "16000"}


def _dry_run(*args: str, check: bool = True, **env: str) -> str:
    proc = subprocess.run(["nice", "-n", "19", str(BIN / "snakemake"), *args, "-n",
                           "--configfile", str(TINY)], cwd=ROOT, capture_output=True, text=True,
                          env=_user_env(**env), timeout=300)
    out = proc.stdout + proc.stderr
    assert (proc.returncode == 0) == check, out[-3000:]
    return out


def test_group_size_follows_partition_max_time():
    """Per simulation (2 CPUs): 65 min; 4 simulations stacked on 2 CPUs: 230 min. A MaxTime of
    120 min allows 2 simulations per job, 50 min not even one: the run stops, naming them."""
    full = GROUP_SIZE.search(_dry_run("--profile", "slurm", "voxels", **NODE)).groups()
    assert tuple(map(int, full)) == (1, 20, 2, 2000, 230)
    out = _dry_run("--profile", "slurm", "voxels", COSMOFLOW_SLURM_MAX_MINUTES="120", **NODE)
    assert "Slurm sizing: group 'simulation': 2 per Slurm job instead of 16" in out, out[-2000:]
    assert tuple(map(int, GROUP_SIZE.search(out).groups())) == (2, 10, 2, 2000, 115)
    out = _dry_run("--profile", "slurm", "voxels", check=False,
                   COSMOFLOW_SLURM_MAX_MINUTES="50", **NODE)
    assert "4 job(s) of this run could never start (nothing was submitted)" in out, out[-3000:]
    for i in range(N_SIMS):
        assert re.search(rf"group job \(simulation 0000{i}: cola, cosmology, initial_conditions, "
                         rf"power_spectrum, voxelize\) asks 2 CPUs, \d+ MB, 65 min: 65 min > 50",
                         out)
    assert "COSMOFLOW_SLURM_MAX_MINUTES=50" in out and not PLAN.search(out)


def test_group_size_follows_node_memory():
    """power_spectrum (1 thread) at 6000 MB: two side by side on 2 CPUs need 12000 MB; on a
    10000 MB node a group job holds one simulation."""
    args = ("--profile", "slurm", "voxels", "--set-resources", "power_spectrum:mem_mb=6000")
    assert tuple(map(int, GROUP_SIZE.search(_dry_run(*args, **NODE)).groups()))[3] == 12000
    out = _dry_run(*args, COSMOFLOW_SLURM_CPUS="2", COSMOFLOW_SLURM_MEM_MB="10000")
    n_groups, _rules, cpus, mem_mb, _minutes = map(int, GROUP_SIZE.search(out).groups())
    assert (n_groups, mem_mb) == (N_SIMS, 6000) and cpus <= 2, out[-1500:]


def test_bad_override_names_the_variable():
    out = _dry_run("--profile", "slurm", "voxels", check=False, COSMOFLOW_SLURM_MAX_MINUTES="1h")
    assert "COSMOFLOW_SLURM_MAX_MINUTES='1h': expected a number" in out, out[-2000:]


def test_profile_resolves_by_name_and_path_and_plans_batches():
    """The profile is found as `slurm` from the repository root and by path and batches 16
    simulations per job by default."""
    by_name = PLAN.search(_dry_run("--profile", "slurm", "voxels", "cosmologies", **NODE))
    # tiny: 4 simulations fit one group job of 16; the table rule is local
    assert by_name and by_name.group(1) == "1", by_name
    per_sim = PLAN.search(_dry_run("--profile", str(ROOT / "workflow/profiles/slurm"), "voxels",
                                   "--group-components", "simulation=1", **NODE))
    assert per_sim and per_sim.group(1) == "4", per_sim


def test_local_runs_load_no_workflow_profile():
    """Snakemake loads a workflow profile on every run from ./default, ./profiles/default or
    profiles/default next to the Snakefile (snakemake/cli.py parse_args); with `executor: slurm`
    there, plain local runs would submit. The project ships none, and a local dry run says so."""
    candidates = [ROOT / "default", ROOT / "profiles" / "default"]
    assert not [p for p in candidates if p.exists()], "an auto-loaded workflow profile exists"
    local = _dry_run("voxels", "--cores", "1")
    assert "workflow specific profile" not in local and "Using profile" not in local
    assert not PLAN.search(local)       # local dry runs plan no cluster jobs


# ---- pure functions ------------------------------------------------------------------------

def test_slurm_times_and_sizes_parse():
    assert cluster.parse_minutes("UNLIMITED") is None and cluster.parse_minutes("infinite") is None
    assert [cluster.parse_minutes(t) for t in ("30", "30:00", "3:50:00", "1-00:00:00", "2-12")] == \
        [30, 30, 230, 1440, 3600]
    assert [cluster.parse_mb(m) for m in ("18420", "4004M", "4G", "UNLIMITED")] == \
        [18420, 4004, 4096, None]


def test_partitions_from_sinfo_and_scontrol():
    nodes = "n1|batch*|64|256000\nn2|batch*|128|512000\nn2|long|128|512000\n"
    parts = ("PartitionName=batch Default=YES MaxTime=1-00:00:00 MaxCPUsPerNode=UNLIMITED "
             "MaxMemPerNode=UNLIMITED\nPartitionName=long Default=NO MaxTime=UNLIMITED "
             "MaxCPUsPerNode=96 MaxMemPerNode=400000\n")
    p = cluster.parse_partitions(nodes, parts)
    assert p["batch"] == cluster.Partition("batch", True, (64, 128), (256000, 512000), 1440.0)
    assert p["long"] == cluster.Partition("long", False, (96, 96), (400000, 400000), None)
    assert cluster.find_partition(p).name == "batch"
    small = cluster.limits_for(p["batch"], environ={})
    assert (small.cpus, small.mem_mb, small.minutes) == (64, 256000, 1440.0)
    big = cluster.limits_for(p["batch"], largest=True,
                             environ={"COSMOFLOW_SLURM_MAX_MINUTES": "60"})
    assert (big.cpus, big.mem_mb, big.minutes) == (128, 512000, 60.0)


def test_largest_fitting_group_size():
    assert cluster.largest_fitting(16, lambda k: k * 65 <= 1440) == 16
    assert cluster.largest_fitting(16, lambda k: k * 130 <= 1440) == 11
    assert cluster.largest_fitting(16, lambda k: False) == 1
    calls = []
    cluster.largest_fitting(1024, lambda k: calls.append(k) or k <= 300)
    assert len(calls) <= 12


@pytest.mark.parametrize("reason, never", [
    ("PartitionConfig", True), ("PartitionTimeLimit", True), ("BadConstraints", True),
    ("ReqNodeNotAvail, UnavailableNodes:n[1-4]", True), ("QOSMaxWallDurationPerJobLimit", True),
    ("AssocMaxCpuPerJobLimit", True), ("QOSMaxMemoryPerNode", True),
    ("QOSMinCpuNotSatisfied", True),
    ("ReqNodeNotAvail, Reserved for maintenance", False), ("Resources", False),
    ("Priority", False), ("Dependency", False), ("QOSMaxJobsPerUserLimit", False),
    ("AssocGrpCpuLimit", False), ("QOSMaxCpuPerUserLimit", False), ("BeginTime", False),
])
def test_pending_reasons_that_never_clear(reason, never):
    job = cluster.QueuedJob("7", "PENDING", 2, 1000, 60.0, "batch", "cosmoflow_x", "/w", "", reason)
    assert (cluster.never_starts(job, None) is not None) == never


def test_pending_request_over_every_node_never_starts():
    part = cluster.Partition("batch", True, (64, 128), (256000, 512000), 1440.0)
    line = "7|PENDING|200|4004M|3:50:00|batch|cosmoflow_x|/w|rule_a|Resources"
    job = cluster.QueuedJob.parse(line)
    assert job.cpus == 200 and job.minutes == 230.0 and job.mem_mb == 4004
    assert "200 CPUs > 128" in cluster.never_starts(job, part)
    fits = cluster.QueuedJob.parse(line.replace("|200|", "|100|"))
    assert cluster.never_starts(fits, part) is None                  # waits for a big node
    running = cluster.QueuedJob.parse(line.replace("PENDING", "RUNNING"))
    assert cluster.never_starts(running, part) is None


class FakeSlurm(cluster.SlurmCommands):
    def __init__(self, lines):
        self.lines, self.cancelled = list(lines), []

    def squeue(self):
        return "\n".join(self.lines)

    def scancel(self, ids):
        self.cancelled += ids

    def partitions(self):
        return {"debug": cluster.Partition("debug", True, (2, 2), (18420, 18420), None)}

    def log_of(self, jobid):
        return f"/w/.snakemake/slurm_logs/group_simulation/{jobid}.log"


def test_watch_cancels_this_runs_jobs_and_names_the_stuck_one():
    old = "3|PENDING|8|4004M|1:05:00|debug|cosmoflow_old|/w|rule_simulation_a|PartitionConfig"
    slurm = FakeSlurm([old])
    watch = cluster.PendingWatch("/w", "cosmoflow_", abort=None, slurm=slurm)
    assert watch.before == {"3"}                 # queued before this run: not ours
    assert watch.check() is None
    slurm.lines += [
        "8|RUNNING|1|500M|5:00|debug|cosmoflow_run|/w|rule_sample|None",
        "9|PENDING|8|4004M|1:05:00|debug|cosmoflow_run|/w|rule_simulation_cola_voxelize|"
        "PartitionConfig",
        "10|PENDING|8|4004M|1:05:00|debug|cosmoflow_run|/other|rule_x|PartitionConfig",
        "11|PENDING|8|4004M|1:05:00|debug|someone_else|/w|rule_x|PartitionConfig",
    ]
    message = watch.check()
    assert slurm.cancelled == ["8", "9"]
    assert "Slurm job 9, Snakemake job 'simulation_cola_voxelize': pending reason PartitionConfig" \
        in message
    assert "asks 8 CPUs, 4004 MB, 65 min in partition 'debug'; partition 'debug': nodes of 2 CPUs" \
        in message
    assert "Slurm log: /w/.snakemake/slurm_logs/group_simulation/9.log" in message
    assert "Cancelled this run's 2 Slurm job(s) (8 9)" in message
    assert "Slurm job 10" not in message and "Slurm job 3" not in message


def test_watch_thread_aborts_the_run():
    slurm = FakeSlurm([])
    got = []
    watch = cluster.PendingWatch("/w", "cosmoflow_", abort=got.append, interval_s=0.05, slurm=slurm)
    slurm.lines.append("5|PENDING|4|1G|10:00|debug|cosmoflow_r|/w|rule_a_wildcards_sim=1|"
                       "PartitionTimeLimit")
    watch.start()
    for _ in range(100):
        if got:
            break
        time.sleep(0.05)
    watch.stop.set()
    watch.join(5)
    assert got and "Snakemake job 'a' (sim=1): pending reason PartitionTimeLimit" in got[0]
    assert not watch.is_alive()
