"""Paper-scale planning: time `snakemake -n` on config/paper.yaml, local and with the Slurm profile.

Prints the wall time of each dry run, Snakemake's rule-job count and, for the Slurm profile, the
number of Slurm jobs it would submit (group jobs of `--group-components simulation=K`).
The local dry run is the baseline measured in the same run; the ratio is profile / local.
No Slurm needed (a dry run never calls sbatch). Run from anywhere:
    python benchmarks/bench_dryrun.py [--configfile config/paper.yaml] [--repeat 1]
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOTAL = re.compile(r"^total\s+(\d+)$", re.M)
PLAN = re.compile(r"Cluster \(Slurm\) jobs to submit: (\d+) \((.*)\)")


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def dry_run(profile_args: list[str], configfile: Path, workdir: Path) -> tuple[float, float, str]:
    """Wall and CPU time [s] and output of one dry run from the repository root (where the
    profiles resolve). CPU time does not depend on what else runs on the machine."""
    cmd = [str(BIN / "snakemake"), *profile_args, "-n", "-d", str(workdir),
           "--configfile", str(configfile)]
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    c0, t0 = _child_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - t0, _child_cpu() - c0
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-4000:]}")
    return wall, cpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", type=Path, default=ROOT / "config" / "paper.yaml")
    ap.add_argument("--repeat", type=int, default=1, help="runs per variant (best is reported)")
    args = ap.parse_args()
    variants = {"local (baseline)": ["--cores", "1"], "--profile slurm": ["--profile", "slurm"]}
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench_dryrun_") as tmp:  # empty results/: full plan
        for name, extra in variants.items():
            runs = [dry_run(extra, args.configfile.resolve(), Path(tmp)) for _ in range(args.repeat)]
            wall = min(w for w, _, _ in runs)
            cpu = min(c for _, c, _ in runs)
            out = runs[0][2]
            total = TOTAL.search(out)
            plan = PLAN.search(out)
            results[name] = (wall, cpu, int(total.group(1)) if total else None, plan)
    print(f"dry run of {args.configfile} (best of {args.repeat}, {os.cpu_count()} CPUs)")
    print(f"{'variant':<18} {'wall [s]':>9} {'cpu [s]':>8} {'rule jobs':>10} {'Slurm jobs':>11} "
          f"{'wall ratio':>10}")
    base = results["local (baseline)"][0]
    for name, (wall, cpu, total, plan) in results.items():
        slurm_jobs = plan.group(1) if plan else "-"
        print(f"{name:<18} {wall:9.1f} {cpu:8.1f} {total!s:>10} {slurm_jobs:>11} {wall / base:10.2f}")
    plan = results["--profile slurm"][3]
    if plan is None:
        sys.exit("the Slurm dry run printed no 'Cluster (Slurm) jobs to submit' line")
    print(f"Slurm plan: {plan.group(0)}")


if __name__ == "__main__":
    main()
