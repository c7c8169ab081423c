"""The `train` rule (Snakemake dry run) and its conda env file."""
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_env_pins_match_pyproject():
    deps = (ROOT / "pyproject.toml").read_text()
    env = yaml.safe_load((ROOT / "envs" / "train.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    for pin in pip:
        assert f'"{pin}"' in deps, f"envs/train.yaml pin {pin} not in pyproject.toml"
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    numpy = next(d for d in conda if d.startswith("numpy"))
    assert f'numpy=={numpy.split("=")[-1]}' in deps


def test_rule_dry_run_uses_the_venv_mpiexec(tmp_path):
    from conftest import run_snakemake

    proc = run_snakemake(tmp_path, "-n", "-p", "train", timeout=300)
    out = proc.stdout + proc.stderr
    venv_bin = re.escape(str(Path(sys.executable).parent))
    # the venv's mpiexec and the venv's Python (the one running Snakemake), not PATH's
    m = re.search(venv_bin + r"/mpiexec -n 2 " + venv_bin + r"/python[\d.]* -m cosmoflow.train "
                  r"--config-json '(\{.*?\})' --set train.threads_per_rank=1 "
                  r"--train-manifest results/tfrecords/train/manifest.json "
                  r"--val-manifest results/tfrecords/val/manifest.json "
                  r"--out results/train --runs results/train/runs --ranks 2 2> ", out)
    assert m, out[-3000:]
    # each run in its own folder under results/train/runs (resumed there only when unfinished)
    assert "--resume" not in out
    # what the run depends on (a rerun trigger): not the thread count nor the launcher
    cfg = json.loads(m.group(1))
    assert set(cfg) == {"model", "data", "train"}
    assert {"threads_per_rank", "mpi"}.isdisjoint(cfg["train"])
    assert cfg["train"]["epochs"] == 2 and cfg["model"]["input_size"] == 16
