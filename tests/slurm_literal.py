"""The local Slurm and the literal `snakemake --profile slurm` run of tests/test_slurm.py.

The literal run is mostly waiting (Slurm's job starts, the executor's status checks), so it
starts in the background as soon as the session has collected its test
(`start_in_background`, called from conftest's pytest_collection_finish): the cluster and the
whole run go at nice 19 beside the other modules' tests, on the CPU they leave idle, and
test_literal_profile_run_completes reads the finished run (`literal_result`). Run alone, the
test starts the same thing and waits for it.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from conftest import ROOT, tool_env

CLUSTER = ROOT / "tests" / "slurm" / "local_cluster.sh"
LITERAL_TEST = "test_slurm.py::test_literal_profile_run_completes"   # the end of its node id
RUN_LIMIT_S = 1200          # hard limit of one snakemake run (a hung executor ignores SIGTERM)
# A copy of the repository as a user's clone has it: no venv, no outputs. __pycache__ folders
# travel less their .pyc: numba's compiled kernels (.nbi/.nbc, valid for the copy: same sources,
# modification times kept) spare the group job ~30 s of JIT compilation, as on a user's clone
# after its first run.
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "results", ".snakemake", "*.pyc",
                                    ".pytest_cache", "*.egg-info", "report.html", "build")


def start_cluster() -> subprocess.CompletedProcess:
    """`local_cluster.sh start` at nice 19 (its daemons, and so the jobs, inherit it);
    returncode 3: Slurm is missing and cannot be installed here."""
    return subprocess.run(["nice", "-n", "19", "bash", str(CLUSTER), "start"], capture_output=True,
                          text=True, timeout=900)


def stop_cluster() -> None:
    """`local_cluster.sh stop`: the daemons it started, and the slurm.conf it wrote, gone."""
    subprocess.run(["bash", str(CLUSTER), "stop"], capture_output=True, timeout=120)


def checkout(dest: Path) -> Path:
    """A copy of the repository, as a user's clone (the ./slurm link stays a link)."""
    shutil.copytree(ROOT, dest, symlinks=True, ignore=NOT_COPIED)
    return dest


def user_env(**extra: str) -> dict:
    """A user's shell: the venv activated, no COSMOFLOW_SLURM_* set, no PYTHONPATH."""
    env = {k: v for k, v in tool_env().items()
           if not k.startswith("COSMOFLOW_SLURM_") and k != "PYTHONPATH"}
    env.update(extra)
    return env


def literal(repo: Path, *extra: str, env: dict | None = None, limit: int = RUN_LIMIT_S):
    """`snakemake --profile slurm --configfile tests/config/tiny.yaml [extra]` in ``repo``.
    Returns (returncode, output, seconds)."""
    cmd = ["nice", "-n", "19", "timeout", "-k", "10", str(limit), "snakemake",
           "--profile", "slurm", "--configfile", "tests/config/tiny.yaml", *extra]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True,
                          env=env or user_env(), timeout=limit + 30)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - t0


class _Literal:
    """The background run: cluster start, a checkout, its dry run, then the run."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="cosmoflow-slurm-literal-"))
        self.started = threading.Event()     # the cluster start has returned
        self.result: dict = {}
        self.thread = threading.Thread(target=self._run, name="slurm-literal", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            proc = start_cluster()
            self.result["start"] = proc
            self.started.set()
            if proc.returncode != 0:
                return
            repo = checkout(self.folder / "cosmoflow")
            self.result["repo"] = repo
            self.result["plan"] = literal(repo, "-n")
            if self.result["plan"][0] == 0:
                self.result["run"] = literal(repo)
        except Exception as err:  # noqa: BLE001 - reported by the test that reads the result
            self.result["error"] = err
        finally:
            self.started.set()


_background: _Literal | None = None


def start_in_background() -> None:
    """Start the cluster and the literal run in a thread (once per session)."""
    global _background
    if _background is None:
        _background = _Literal()


def wait_cluster_started() -> None:
    """Block until a background cluster start has returned (no-op without one)."""
    if _background is not None:
        _background.started.wait(timeout=1000)


def literal_result() -> dict:
    """The background run's {"start", "repo", "plan", "run"} (or "error"), started now if the
    session did not start it; waits for it to finish."""
    start_in_background()
    _background.thread.join(timeout=2 * RUN_LIMIT_S + 1000)
    if _background.thread.is_alive():
        raise TimeoutError("the background `snakemake --profile slurm` run did not finish")
    return _background.result


def cleanup() -> None:
    """End of session: the background run's folder removed and, if the cluster was started for
    it, stopped (test_slurm's own fixture stops it too; stopping twice is harmless)."""
    if _background is not None:
        if not _background.thread.is_alive():
            shutil.rmtree(_background.folder, ignore_errors=True)
        if "start" in _background.result:
            stop_cluster()
