"""Shared test helpers: repository paths and a real `snakemake` runner."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "config" / "tiny.yaml"
BIN = Path(sys.executable).parent


def tool_env(venv_on_path: bool = True, **extra: str) -> dict:
    """Environment for subprocesses: this interpreter's bin first (snakemake, mpiexec), or,
    ``venv_on_path=False``, taken off PATH (a user calling ``.venv/bin/snakemake`` directly)."""
    env = dict(os.environ)
    rest = [p for p in env.get("PATH", "").split(os.pathsep)
            if p and Path(p).resolve() != BIN.resolve()]
    env["PATH"] = os.pathsep.join(([str(BIN)] if venv_on_path else []) + rest)
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra)
    return env


def run_snakemake(workdir: Path, *args: str, configfiles=(TINY,), check: bool = True,
                  timeout: int = 600, venv_on_path: bool = True) -> subprocess.CompletedProcess:
    """Run the real snakemake on the repository's Snakefile in ``workdir`` (by its full path:
    ``venv_on_path=False`` leaves the venv off PATH, as a user who never activated it)."""
    # targets and options first: --configfile takes several values and would eat a target
    cmd = [str(BIN / "snakemake"), *args, "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
           "--cores", "2", "--configfile", *map(str, configfiles)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=tool_env(venv_on_path),
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture
def snakemake_run():
    return run_snakemake


@pytest.fixture(scope="session")
def tiny_run_done(tmp_path_factory) -> Path:
    """One finished `snakemake` of the tiny config (every stage), made once per session for the
    modules that start from a finished run. Read it, never change it: a test that reruns or
    changes it works on a copy (copy_run)."""
    work = tmp_path_factory.mktemp("tiny_run")
    run_snakemake(work, timeout=900)
    return work


def copy_run(src: Path, dest: Path, only=None) -> Path:
    """A copy of a Snakemake working folder, its .snakemake records and modification times
    kept, so Snakemake finds the copy as up to date as the original. ``only``: the top-level
    folders of results/ to copy (default all)."""
    ignore = None
    if only is not None:
        keep = set(only)
        ignore = lambda d, names: [n for n in names if Path(d) == src / "results" and n not in keep]  # noqa: E731
    shutil.copytree(src, dest, symlinks=True, ignore=ignore, dirs_exist_ok=True)
    return dest


def pytest_collection_finish(session):
    """The literal `snakemake --profile slurm` run is mostly waiting: when this session will
    check it, start it now in the background, at nice 19 beside the other tests
    (tests/slurm_literal.py)."""
    import slurm_literal
    if any(item.nodeid.endswith(slurm_literal.LITERAL_TEST) for item in session.items):
        slurm_literal.start_in_background()


def pytest_sessionfinish(session, exitstatus):
    """The background Slurm run's folder removed, its cluster stopped (tests/slurm_literal.py)."""
    if "slurm_literal" in sys.modules:
        sys.modules["slurm_literal"].cleanup()
