"""Cluster runs on Slurm: what a run submits, whether it fits, and a watch on what never starts.

* **Plan** (dry runs): how many Slurm jobs a DAG submits. A group job (``group: "simulation"``,
  merged ``--group-components`` at a time) is one Slurm job, a local rule (``localrule: True``,
  rules without shell/script such as targets) none, every other job one.
* **Sizing** (``install``): group jobs are cut to what one node of the partition offers. The
  simulations per group job (``group-components``) are lowered until every group job's CPUs,
  memory and time limit fit a node of the partition and its MaxTime; then every job of the DAG is
  checked and a job no node could ever run stops the run before anything is submitted.
* **Watch** (``start_watch``): while a run waits, its pending Slurm jobs are polled; one that
  Slurm can never start (pending reason PartitionConfig, PartitionTimeLimit, ReqNodeNotAvail,
  a per-job QOS or association maximum, or a request over the partition's largest node) stops
  the run with a message naming the job, what it asks and what the partition has.

Node sizes and limits come from ``sinfo``/``scontrol`` (``query_partitions``); the environment
variables in ``OVERRIDES`` replace them (docs/slurm.md, "Sizing").
"""
from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import threading
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable, Optional


@dataclass(frozen=True)
class SubmissionPlan:
    """Jobs a cluster executor would submit.

    Attributes
    ----------
    group_jobs : Counter
        group id -> number of group jobs (each one submission).
    group_sizes : Counter
        group id -> largest number of rule jobs in one group job of that id.
    single_jobs : Counter
        rule name -> jobs submitted on their own.
    local_jobs : int
        jobs snakemake runs itself (never submitted).
    rule_jobs : int
        all rule jobs of the plan.
    largest : dict
        group id -> (cpus, mem_mb, runtime [min]) of its largest group job, as requested
        from Slurm (Snakemake's layered group resources).
    """

    group_jobs: Counter = field(default_factory=Counter)
    group_sizes: Counter = field(default_factory=Counter)
    single_jobs: Counter = field(default_factory=Counter)
    local_jobs: int = 0
    rule_jobs: int = 0
    largest: dict = field(default_factory=dict)

    @property
    def submissions(self) -> int:
        """Total number of cluster jobs."""
        return sum(self.group_jobs.values()) + sum(self.single_jobs.values())

    def summary(self) -> str:
        """One line, e.g. 'Cluster (Slurm) jobs to submit: 101 (...)'."""
        def size(g: str) -> str:
            if g not in self.largest:
                return ""
            cpus, mem, runtime = self.largest[g]
            return f", each <= {cpus} CPUs, {mem} MB, {runtime} min"

        groups = ", ".join(f"{n} group jobs '{g}' of <= {self.group_sizes[g]} rule jobs{size(g)}"
                           for g, n in sorted(self.group_jobs.items()))
        singles = ", ".join(f"{n} {r}" for r, n in sorted(self.single_jobs.items()))
        parts = [p for p in (groups, singles and f"single: {singles}") if p]
        return (f"Cluster (Slurm) jobs to submit: {self.submissions} ({'; '.join(parts) or 'none'}; "
                f"{self.local_jobs} local jobs; {self.rule_jobs} rule jobs in all)")


def runs_on_submit_host(rule, localrules) -> bool:
    """Whether a cluster executor runs jobs of this rule itself (Snakemake's rule for
    ``Workflow.is_local`` under a non-local executor: grouped rules are always submitted)."""
    return rule.group is None and (rule.name in localrules or rule.norun
                                   or getattr(rule, "is_template_engine", False))


def layered_resources(toposorted, constraints) -> dict:
    """Resources Snakemake requests for one group job of these jobs on a cluster: the layers of
    each toposort level stacked (runtime summed, CPUs and memory of the widest layer).

    ``GroupJob.resources`` sums the layers when the executor is local, as in a dry run."""
    from snakemake.resources import GroupResources

    return GroupResources.basic_layered(toposorted_jobs=toposorted, constraints=constraints,
                                        run_local=False, additive_resources=["runtime"],
                                        sortby=["runtime"])


def submitted_resources(group, constraints) -> dict:
    """Resources Snakemake requests for one group job (a ``GroupJob``) on a cluster."""
    return layered_resources(group.toposorted, constraints)


def plan_submissions(dag, localrules=frozenset(), constraints=None) -> SubmissionPlan:
    """Count the cluster submissions of a built Snakemake DAG (``workflow.dag``).

    Parameters
    ----------
    dag : snakemake.dag.DAG
        A DAG after ``update_groups`` (any dry run or real run), with group
        components already merged.
    localrules : set of str
        Names of rules declared local (``localrules:`` / ``localrule: True``).
    constraints : snakemake Resources, optional
        ``workflow.global_resources`` (``--cores`` bounds the CPUs of one group job); when
        given, ``largest`` holds the resources a cluster executor would request.
    """
    groups: dict[int, object] = {}
    single: Counter = Counter()
    local = 0
    jobs = list(dag.needrun_jobs(exclude_finished=False))
    for job in jobs:
        group = dag.get_job_group(job)
        if group is not None:
            groups[id(group)] = group
        elif runs_on_submit_host(job.rule, localrules):
            local += 1
        else:
            single[job.rule.name] += 1
    group_jobs: Counter = Counter()
    group_sizes: Counter = Counter()
    largest: dict = {}
    for group in groups.values():
        gid = group.groupid
        group_jobs[gid] += 1
        group_sizes[gid] = max(group_sizes[gid], len(group.jobs))
        res = submitted_resources(group, constraints) if constraints is not None else group.resources
        req = (res.get("_cores", 1), res.get("mem_mb", 0), res.get("runtime", 0))
        largest[gid] = tuple(max(a, b) for a, b in zip(largest.get(gid, req), req))
    return SubmissionPlan(group_jobs, group_sizes, single, local, len(jobs), largest)


def report_dry_run(workflow, stream=None) -> None:
    """Print the submission plan of a finished dry run (registered with ``atexit``).

    Does nothing outside dry runs of a cluster executor (Snakemake sets ``nodes`` from
    ``--jobs`` only for non-local executors: the local executor turns ``--jobs`` into cores)
    or when no DAG was built (a parse error, ``--lint``).
    """
    try:
        if not workflow.dryrun or workflow.nodes is None:
            return
        dag = workflow.dag
    except Exception:  # noqa: BLE001 - no workflow/DAG (parse error, other modes): nothing to say
        return
    if dag is None or getattr(dag, "_cosmoflow_unfit", False):   # the run stopped: no plan
        return
    plan = plan_submissions(dag, getattr(workflow, "_localrules", frozenset()),
                            workflow.global_resources)
    if plan.rule_jobs:
        print(plan.summary(), file=stream or sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# What the partition offers
# --------------------------------------------------------------------------------------------

#: Environment variables that replace what Slurm reports for every partition (docs/slurm.md).
OVERRIDES = {"cpus": "COSMOFLOW_SLURM_CPUS",              # CPUs of one node
             "mem_mb": "COSMOFLOW_SLURM_MEM_MB",          # memory of one node [MB]
             "minutes": "COSMOFLOW_SLURM_MAX_MINUTES"}    # longest job [min]
QUERY_TIMEOUT_S = 20      # sinfo/scontrol answer in ms; a dead controller makes them hang


def parse_minutes(text: str) -> Optional[float]:
    """A Slurm time ('30', '2:00:00', '1-12:00:00', 'UNLIMITED', 'infinite') in [min];
    None when unlimited."""
    text = text.strip()
    if text.upper() in ("UNLIMITED", "INFINITE", "NONE", "N/A", ""):
        return None
    days, _, rest = text.rpartition("-")
    parts = [float(p) for p in rest.split(":")]
    if days:   # D-HH[:MM[:SS]]
        h, m, s = (parts + [0.0, 0.0])[:3]
    else:      # MM, MM:SS, HH:MM:SS
        h, m, s = {1: (0.0, parts[0], 0.0), 2: (0.0, *parts), 3: tuple(parts)}[len(parts)]
    return (float(days or 0) * 24 + h) * 60 + m + s / 60


def parse_mb(text: str) -> Optional[int]:
    """A Slurm memory size ('18420', '4004M', '4G', 'UNLIMITED') in [MB]; None when unlimited."""
    text = text.strip().upper()
    if text in ("UNLIMITED", "INFINITE", "N/A", "", "0"):
        return None
    scale = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 ** 2}.get(text[-1])
    return int(float(text[:-1]) * scale) if scale else int(float(text))


@dataclass(frozen=True)
class Partition:
    """One Slurm partition as a job sees it.

    Attributes
    ----------
    name : str
    default : bool
        ``sinfo`` marks it as the default partition.
    cpus : tuple of int
        (smallest, largest) CPUs of its nodes, capped by MaxCPUsPerNode.
    mem_mb : tuple of int
        (smallest, largest) memory of its nodes in [MB], capped by MaxMemPerNode.
    minutes : float or None
        MaxTime in [min]; None: unlimited.
    """

    name: str
    default: bool
    cpus: tuple
    mem_mb: tuple
    minutes: Optional[float]

    def describe(self) -> str:
        def span(v, unit):
            return f"{v[0]} {unit}" if v[0] == v[1] else f"{v[0]}-{v[1]} {unit}"
        limit = "unlimited" if self.minutes is None else f"{self.minutes:g} min"
        return (f"partition '{self.name}': nodes of {span(self.cpus, 'CPUs')} and "
                f"{span(self.mem_mb, 'MB')}, MaxTime {limit}")


def _run(cmd: list) -> Optional[str]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=QUERY_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def parse_partitions(sinfo_nodes: str, scontrol_parts: str) -> dict:
    """Partitions from ``sinfo -h -N -o '%N|%P|%c|%m'`` (one line per node and partition) and
    ``scontrol -o show partition`` (one line per partition: MaxTime, MaxCPUsPerNode,
    MaxMemPerNode, Default)."""
    nodes: dict = defaultdict(list)
    default = set()
    for line in sinfo_nodes.splitlines():
        if line.count("|") != 3:
            continue
        _node, part, cpus, mem = line.split("|")
        if part.endswith("*"):
            part = part[:-1]
            default.add(part)
        nodes[part].append((int(cpus.rstrip("+")), int(mem.rstrip("+"))))
    limits = {}
    for line in scontrol_parts.splitlines():
        kv = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if "PartitionName" in kv:
            limits[kv["PartitionName"]] = kv
    out = {}
    for name, sizes in nodes.items():
        kv = limits.get(name, {})
        max_cpus = kv.get("MaxCPUsPerNode", "UNLIMITED")
        max_cpus = int(max_cpus) if max_cpus.isdigit() else None
        max_mem = parse_mb(kv.get("MaxMemPerNode", "UNLIMITED"))
        cpus = sorted(min(c, max_cpus or c) for c, _ in sizes)
        mem = sorted(min(m, max_mem or m) for _, m in sizes)
        out[name] = Partition(name, name in default or kv.get("Default") == "YES",
                              (cpus[0], cpus[-1]), (mem[0], mem[-1]),
                              parse_minutes(kv.get("MaxTime", "UNLIMITED")))
    return out


_PARTITIONS: Optional[dict] = None


def query_partitions(refresh: bool = False) -> dict:
    """Partition name -> ``Partition`` from this machine's Slurm; {} where Slurm cannot be asked
    (no Slurm, controller down: dry runs on a laptop). Asked once per process."""
    global _PARTITIONS
    if _PARTITIONS is None or refresh:
        nodes = _run(["sinfo", "-h", "-N", "-o", "%N|%P|%c|%m"])   # ~10 s when ctld is down
        parts = _run(["scontrol", "-o", "show", "partition"]) if nodes else None
        _PARTITIONS = parse_partitions(nodes, parts or "") if nodes else {}
    return _PARTITIONS


def find_partition(partitions: dict, name: str = "") -> Optional[Partition]:
    """The partition a job goes to: ``name``, or the default one when empty."""
    if name:
        return partitions.get(name)
    return next((p for p in partitions.values() if p.default), None)


@dataclass(frozen=True)
class Limits:
    """What one job may ask: CPUs and memory of one node, the longest time. None: no limit known.

    ``where`` says where the numbers come from (for messages)."""

    cpus: Optional[int]
    mem_mb: Optional[int]
    minutes: Optional[float]
    where: str

    def describe(self) -> str:
        def val(v, unit):
            return "?" if v is None else f"{v:g} {unit}"
        return (f"{val(self.cpus, 'CPUs')}, {val(self.mem_mb, 'MB')} per node, "
                f"{'no time limit' if self.minutes is None else val(self.minutes, 'min')} "
                f"({self.where})")


def overrides(environ=os.environ) -> dict:
    """The set ``OVERRIDES`` variables as numbers; a bad value names the variable."""
    out = {}
    for key, var in OVERRIDES.items():
        value = environ.get(var, "").strip()
        if not value:
            continue
        try:
            out[key] = float(value) if key == "minutes" else int(value)
        except ValueError:
            raise ValueError(f"{var}={value!r}: expected a number") from None
        if out[key] <= 0:
            raise ValueError(f"{var}={value!r}: must be > 0")
    return out


def limits_for(partition: Optional[Partition], largest: bool = False, environ=os.environ) -> Limits:
    """Limits of one job in ``partition``: its smallest node (what group jobs are sized to:
    they then fit every node) or, ``largest``, its largest node (what no job may exceed);
    the ``OVERRIDES`` variables replace either."""
    env = overrides(environ)
    i = 1 if largest else 0
    got = {"cpus": partition.cpus[i] if partition else None,
           "mem_mb": partition.mem_mb[i] if partition else None,
           "minutes": partition.minutes if partition else None}
    got.update(env)
    where = [f"partition '{partition.name}'" + ("" if len(env) == len(OVERRIDES) else " (sinfo)")
             if partition else "Slurm not reachable"]
    where += [f"{OVERRIDES[k]}={v:g}" for k, v in env.items()]
    return Limits(got["cpus"], got["mem_mb"], got["minutes"], ", ".join(where))


# --------------------------------------------------------------------------------------------
# Requests and whether they fit
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    """What one Slurm job asks: CPUs on one node, memory per node [MB], time [min]; ``tasks``
    > 1 (MPI) may spread over nodes, then ``cpus`` is what one task needs on its node."""

    name: str
    cpus: int
    mem_mb: int
    minutes: float
    partition: str = ""
    tasks: int = 1

    def describe(self) -> str:
        cpus = f"{self.tasks} tasks x {self.cpus} CPUs" if self.tasks > 1 else f"{self.cpus} CPUs"
        return f"{cpus}, {self.mem_mb} MB, {self.minutes:g} min"


def excess(request: Request, limits: Limits) -> list:
    """What of ``request`` exceeds ``limits``, e.g. ['8 CPUs > 2']; [] when it fits."""
    out = []
    for asked, limit, unit in ((request.cpus, limits.cpus, "CPUs"),
                               (request.mem_mb, limits.mem_mb, "MB"),
                               (request.minutes, limits.minutes, "min")):
        if limit is not None and asked > limit:
            out.append(f"{asked:g} {unit} > {limit:g}")
    return out


def largest_fitting(k_max: int, fits: Callable[[int], bool]) -> int:
    """The largest k in [1, k_max] with ``fits(k)`` (true for all k below a threshold); 1 when
    none fits (a single simulation is then reported by the job check)."""
    if fits(k_max):
        return k_max
    lo, hi = 1, k_max - 1          # fits(lo) assumed; the answer lies in [lo, hi]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _int(value, default=0) -> int:
    return value if isinstance(value, int) else default


def request_of(resources, name: str, threads: int = 1) -> Request:
    """The Slurm request of a job from its (evaluated) resources: the executor plugin asks
    ``--ntasks=tasks --cpus-per-task=(cpus_per_task or threads) --mem=mem_mb -t runtime``;
    tasks may spread over nodes unless ``nodes=1``, so one node must hold one task."""
    cpt = _int(resources.get("cpus_per_task"), 0) or threads
    tasks = max(1, _int(resources.get("tasks"), 1))
    one_node = tasks == 1 or resources.get("nodes") == 1
    per_node = cpt * tasks if one_node else cpt
    mem = _int(resources.get("mem_mb"))
    if _int(resources.get("mem_mb_per_cpu")):
        mem = resources["mem_mb_per_cpu"] * per_node
    partition = resources.get("slurm_partition") or ""
    return Request(name, per_node, mem, float(_int(resources.get("runtime"))),
                   partition if isinstance(partition, str) else "", 1 if one_node else tasks)


def _group_name(jobs) -> str:
    rules = sorted({j.rule.name for j in jobs})
    sims = sorted({j.wildcards.get("sim") for j in jobs} - {None})
    what = f"{len(sims)} simulations {sims[0]}..{sims[-1]}" if len(sims) > 1 else \
        (f"simulation {sims[0]}" if sims else f"{len(jobs)} jobs")
    return f"group job ({what}: {', '.join(rules)})"


def _job_name(job) -> str:
    wc = ", ".join(f"{k}={v}" for k, v in job.wildcards.items())
    return f"rule {job.rule.name}" + (f" ({wc})" if wc else "")


def _chunk_request(dag, groups, constraints) -> Request:
    jobs = set().union(*(g.jobs for g in groups))
    res = layered_resources(dag.toposorted(jobs, inherit_pipe_dependencies=True), constraints)
    return request_of(res, _group_name(jobs), threads=_int(res.get("_cores"), 1))


def _log(msg: str) -> None:
    try:
        from snakemake.logging import logger
        logger.info(msg)
    except Exception:  # noqa: BLE001 - no snakemake logger set up (tests): plain stderr
        print(msg, file=sys.stderr, flush=True)


def plans_for_cluster(workflow) -> bool:
    """The main Snakemake process of a cluster run or its dry run (``--jobs`` counts nodes);
    not a local run, not the Snakemake inside a submitted job."""
    from snakemake_interface_executor_plugins.settings import ExecMode

    return workflow.nodes is not None and workflow.exec_mode == ExecMode.DEFAULT


def size_groups(dag, partitions: dict) -> dict:
    """Lower ``--group-components`` of each group until every group job fits a node of its
    partition (CPUs, memory) and the partition's MaxTime. Before Snakemake merges components.

    Returns group id -> (asked, chosen) for the groups that were lowered."""
    wf = dag.workflow
    by_id: dict = defaultdict(set)
    for group in dag._group.values():      # the same walk as DAG._update_group_components
        by_id[group.groupid].add(group)
    components = dict(wf.group_settings.group_components)
    lowered = {}
    for gid, groups in by_id.items():
        key = wf.parent_groupids.get(gid, gid)
        asked = components.get(key, 1)
        if asked <= 1:
            continue
        first = next(iter(next(iter(groups)).jobs))
        part = first.resources.get("slurm_partition") or ""
        limits = limits_for(find_partition(partitions, part if isinstance(part, str) else ""))
        if limits.cpus is None and limits.mem_mb is None and limits.minutes is None:
            continue

        def fits(k, groups=groups, limits=limits):
            from snakemake.common import group_into_chunks
            return all(not excess(_chunk_request(dag, chunk, wf.global_resources), limits)
                       for chunk in group_into_chunks(k, groups))

        chosen = largest_fitting(min(asked, len(groups)), fits)
        if chosen < min(asked, len(groups)):
            components[key] = chosen
            lowered[key] = (asked, chosen)
            if chosen > 1 or fits(1):     # else unfit_jobs reports the single ones
                _log(f"Slurm sizing: group '{key}': {chosen} per Slurm job instead of {asked}, "
                     f"so that one job fits {limits.describe()}")
    if lowered:
        wf.group_settings.group_components = components
    return lowered


def unfit_jobs(dag, partitions: dict) -> list:
    """Jobs of the DAG that no node of their partition can run: (request, partition, excess,
    members over the limits alone). Group jobs as merged, other submitted jobs one by one."""
    wf = dag.workflow
    localrules = getattr(wf, "_localrules", frozenset())
    seen, requests = set(), []
    for job in dag.needrun_jobs(exclude_finished=False):
        group = dag.get_job_group(job)
        if group is not None:
            if id(group) not in seen:
                seen.add(id(group))
                res = submitted_resources(group, wf.global_resources)
                requests.append((request_of(res, _group_name(group.jobs),
                                            threads=_int(res.get("_cores"), 1)), group.jobs))
        elif not runs_on_submit_host(job.rule, localrules):
            requests.append((request_of(job.resources, _job_name(job), threads=job.threads), ()))
    out = []
    for req, members in requests:
        part = find_partition(partitions, req.partition)
        limits = limits_for(part, largest=True)
        over = excess(req, limits)
        if over:
            alone = [f"{_job_name(m)} alone asks {r.describe()}"
                     for m in sorted(members, key=str)
                     if excess(r := request_of(m.resources, "", threads=m.threads), limits)]
            out.append((req, limits, over, alone))
    return out


def format_unfit(unfit: list) -> str:
    """The error for ``unfit_jobs``: each job, what it asks, what the partition has, and how
    to fix it."""
    lines = [f"Slurm: {len(unfit)} job(s) of this run could never start (nothing was submitted):"]
    for req, limits, over, alone in unfit[:10]:
        lines.append(f"  - {req.name} asks {req.describe()}"
                     + (f" in partition '{req.partition}'" if req.partition else "")
                     + f": {'; '.join(over)}; the partition offers {limits.describe()}")
        lines += [f"      {a}" for a in alone[:5]]
    if len(unfit) > 10:
        lines.append(f"  ... and {len(unfit) - 10} more")
    lines.append("Lower the request (--set-resources RULE:mem_mb=... / RULE:runtime=...; training "
                 "resumes from its checkpoint, so train:runtime may be the partition's MaxTime; "
                 "fewer threads in the config), or use a partition with larger nodes or a longer "
                 "MaxTime (COSMOFLOW_SLURM_PARTITION); see docs/slurm.md, 'Sizing'.")
    return "\n".join(lines)


def install(workflow) -> None:
    """Size and check the Slurm jobs of this Snakemake process (cluster runs and their dry runs;
    local runs and the Snakemake inside a job are left alone).

    Snakemake offers no hook between building the DAG and merging group components, so this
    wraps ``DAG._update_group_components`` (snakemake 9.27, pinned): ``size_groups`` lowers
    the group size first, then Snakemake merges, then ``unfit_jobs`` checks every job."""
    from snakemake.dag import DAG
    from snakemake_interface_common.exceptions import WorkflowError

    original = DAG._update_group_components
    if getattr(original, "_cosmoflow_sizing", False):
        return
    # Resources are evaluated here inside Snakemake's DAG event loop, where an input-size
    # resource (the default disk_mb) cannot run: Snakemake leaves it <TBD> (re-evaluated before
    # submission) and its coroutine is dropped, which Python reports at garbage collection.
    warnings.filterwarnings("ignore", category=RuntimeWarning,
                            message=r"coroutine 'InputFiles\._predicated_size_files")

    def _update_group_components(dag):
        active = plans_for_cluster(dag.workflow)
        if active:
            try:
                partitions = query_partitions()
                overrides()
            except ValueError as err:
                raise WorkflowError(str(err)) from None
            size_groups(dag, partitions)
        original(dag)
        if active:
            unfit = unfit_jobs(dag, partitions)
            if unfit:
                dag._cosmoflow_unfit = True
                raise WorkflowError(format_unfit(unfit))

    _update_group_components._cosmoflow_sizing = True
    DAG._update_group_components = _update_group_components


# --------------------------------------------------------------------------------------------
# Watch: pending jobs that Slurm can never start
# --------------------------------------------------------------------------------------------

#: Pending reasons that do not go away by waiting (Slurm's job_state_reason.c names).
NEVER_REASONS = frozenset({
    "PartitionConfig", "PartitionTimeLimit", "PartitionNodeLimit", "ReqNodeNotAvail",
    "BadConstraints", "Constraints", "InvalidAccount", "InvalidQOS", "QOSNotAllowed",
    "AccountNotAllowed", "MaxMemPerLimit", "ReservationInvalid", "ReservationDeleted",
})
#: Per-job or per-node QOS/association maxima and QOS minima (per-user or group totals wait).
NEVER_PATTERN = re.compile(r"^(?:(?:QOS|Assoc)Max\w*Per(?:Job|Node)\w*|QOSMin\w+)$")
SQUEUE_FORMAT = "%i|%T|%C|%m|%l|%P|%j|%Z|%k|%r"


@dataclass(frozen=True)
class QueuedJob:
    """One line of ``squeue -o SQUEUE_FORMAT``."""

    jobid: str
    state: str
    cpus: int
    mem_mb: Optional[int]
    minutes: Optional[float]
    partition: str
    name: str
    workdir: str
    comment: str
    reason: str

    @classmethod
    def parse(cls, line: str) -> Optional["QueuedJob"]:
        fields = line.split("|", 9)
        if len(fields) != 10 or not fields[0].strip():
            return None
        jobid, state, cpus, mem, limit, part, name, workdir, comment, reason = fields
        return cls(jobid.strip(), state, int(cpus) if cpus.isdigit() else 0, parse_mb(mem),
                   parse_minutes(limit) if limit.strip() else None, part, name, workdir,
                   comment, reason.strip())

    log: str = ""

    def request(self) -> Request:
        return Request(self.comment or self.name, self.cpus, self.mem_mb or 0,
                       self.minutes or 0.0, self.partition)

    def snakemake_name(self) -> str:
        """The Snakemake job from the plugin's ``--comment rule_<name>[_wildcards_<w>]``: a
        group job's name is the group id and its rules, e.g. 'group simulation_cola_...'."""
        name, _, wildcards = self.comment.removeprefix("rule_").partition("_wildcards_")
        if not name:
            return f"job {self.name}"
        return f"job '{name}'" + (f" ({wildcards})" if wildcards else "")


def never_starts(job: QueuedJob, partition: Optional[Partition]) -> Optional[str]:
    """Why Slurm can never start ``job`` (pending), or None while it may still start."""
    if job.state != "PENDING":
        return None
    code = job.reason.split(",")[0].strip().strip("()")
    if code in NEVER_REASONS or NEVER_PATTERN.match(code):
        if code == "ReqNodeNotAvail" and "maint" in job.reason.lower():
            return None        # nodes reserved for maintenance come back by themselves
        return f"pending reason {job.reason}"
    if partition is not None:   # e.g. 'Resources' for a request no node has
        over = excess(job.request(), limits_for(partition, largest=True, environ={}))
        if over:
            return (f"pending reason {job.reason} while it asks more than any node: "
                    f"{'; '.join(over)}")
    return None


def format_never(stuck: list, partitions: dict, cancelled: list) -> str:
    """The error of the watch: each stuck job, what it asks, what its partition has."""
    lines = [f"Slurm can never start {len(stuck)} job(s) of this run:"]
    for job, why in stuck:
        part = partitions.get(job.partition)
        lines.append(f"  - Slurm job {job.jobid}, Snakemake {job.snakemake_name()}: {why}")
        lines.append(f"      asks {job.request().describe()} in partition '{job.partition}'; "
                     + (part.describe() if part else "partition unknown to sinfo"))
        if job.log:
            lines.append(f"      Slurm log: {job.log}")
    env = overrides()
    if env:
        lines.append("  (set: " + ", ".join(f"{OVERRIDES[k]}={v:g}" for k, v in env.items())
                     + ": they replace what sinfo reports; unset them or match the nodes)")
    lines.append(f"Cancelled this run's {len(cancelled)} Slurm job(s) ({' '.join(cancelled)}). "
                 "Fix the request (docs/slurm.md, 'Sizing') and rerun; finished outputs are kept.")
    return "\n".join(lines)


class SlurmCommands:
    """The Slurm commands the watch runs (tests replace them)."""

    def squeue(self) -> Optional[str]:
        """This user's queued jobs as ``SQUEUE_FORMAT`` lines; None when squeue fails."""
        return _run(["squeue", "--me", "-h", "-o", SQUEUE_FORMAT])

    def scancel(self, ids: list) -> None:
        _run(["scancel", *ids])

    def partitions(self) -> dict:
        return query_partitions()

    def log_of(self, jobid: str) -> str:
        """The Slurm log of a job (``scontrol show job``: StdOut), '' when unknown."""
        out = _run(["scontrol", "-o", "show", "job", jobid]) or ""
        return next((kv.split("=", 1)[1] for kv in out.split() if kv.startswith("StdOut=")), "")


class PendingWatch(threading.Thread):
    """Polls ``squeue`` for this run's Slurm jobs; on one that can never start, cancels the run's
    jobs and calls ``abort(message)``.

    This run's jobs: the executor plugin names them ``<prefix>_<run uuid>`` and submits them
    with ``-D <workdir>``; jobs already queued when the watch starts (a killed earlier run in
    the same folder) are not this run's."""

    def __init__(self, workdir: str, prefix: str, abort: Callable[[str], None],
                 interval_s: float = 10.0, slurm: Optional[SlurmCommands] = None):
        super().__init__(name="cosmoflow-slurm-watch", daemon=True)
        self.workdir, self.prefix, self.abort = workdir, prefix, abort
        self.interval_s = interval_s
        self.slurm = slurm or SlurmCommands()
        self.stop = threading.Event()
        self.before = {j.jobid for j in self.ours()}

    def ours(self) -> list:
        """This run's queued jobs (and those queued before the watch started)."""
        jobs = [QueuedJob.parse(line) for line in (self.slurm.squeue() or "").splitlines()]
        return [j for j in jobs if j is not None and j.workdir == self.workdir
                and j.name.startswith(self.prefix)]

    def check(self) -> Optional[str]:
        """One poll: cancels this run's jobs and returns the abort message when one of them can
        never start; None otherwise."""
        jobs = [j for j in self.ours() if j.jobid not in self.before]
        partitions = self.slurm.partitions()
        stuck = [(j, why) for j in jobs
                 if (why := never_starts(j, find_partition(partitions, j.partition)))]
        if not stuck:
            return None
        stuck = [(dataclasses.replace(j, log=self.slurm.log_of(j.jobid)), why) for j, why in stuck]
        ids = [j.jobid for j in jobs]
        self.slurm.scancel(ids)
        return format_never(stuck, partitions, ids)

    def run(self) -> None:
        while not self.stop.wait(self.interval_s):
            message = self.check()
            if message:
                self.abort(message)
                # the scheduler may still be submitting while it shuts down: cancel late ones
                for _ in range(60):
                    late = [j.jobid for j in self.ours() if j.jobid not in self.before]
                    if late:
                        self.slurm.scancel(late)
                    if self.stop.wait(2.0):
                        return
                return


def start_watch(workflow, interval_s: Optional[float] = None) -> Optional[PendingWatch]:
    """Start the watch for a Slurm run (from ``onstart``); None for other executors."""
    plugin = getattr(workflow, "executor_plugin", None)
    if plugin is None or getattr(plugin, "name", "") != "slurm" or not plans_for_cluster(workflow):
        return None
    from snakemake_interface_common.exceptions import WorkflowError

    prefix = getattr(workflow.executor_settings, "jobname_prefix", None) or ""
    interval_s = interval_s or float(os.environ.get("COSMOFLOW_SLURM_WATCH_S", "10"))

    def abort(message: str) -> None:
        workflow.scheduler.executor_error_callback(WorkflowError(message))

    watch = PendingWatch(str(workflow.workdir_init), f"{prefix}_" if prefix else "", abort,
                         interval_s=interval_s)
    watch.start()
    _log(f"Slurm watch: every {interval_s:g} s, pending jobs that can never start stop the run")
    return watch
