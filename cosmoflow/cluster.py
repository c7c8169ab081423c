"""Cluster submission plan: how many jobs a cluster executor (Slurm) would submit for a DAG.

Snakemake's dry-run table counts rule jobs; on a cluster what matters is the number of
submissions: a group job (``group: "simulation"``, merged ``--group-components`` at a time)
is one Slurm job, a local rule (``localrule: True``, rules without shell/script such as
targets) is none, every other job is one.
"""
from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field


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


def submitted_resources(group, constraints) -> dict:
    """Resources Snakemake requests for one group job on a cluster.

    ``GroupJob.resources`` sums the layers when the executor is local, as in a dry run; a
    cluster executor stacks them (runtime summed, CPUs and memory of the widest layer).
    """
    from snakemake.resources import GroupResources

    return GroupResources.basic_layered(toposorted_jobs=group.toposorted, constraints=constraints,
                                        run_local=False, additive_resources=["runtime"],
                                        sortby=["runtime"])


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
    if dag is None:
        return
    plan = plan_submissions(dag, getattr(workflow, "_localrules", frozenset()),
                            workflow.global_resources)
    if plan.rule_jobs:
        print(plan.summary(), file=stream or sys.stderr, flush=True)
