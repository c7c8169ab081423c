"""The `train` rule (Snakemake dry run) and its conda env file."""
import re
import subprocess
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
    res = tmp_path / "results"
    for split in ("train", "val"):
        (res / "tfrecords" / split).mkdir(parents=True)
        (res / "tfrecords" / split / "manifest.json").write_text("{}")
    (tmp_path / "Snakefile").write_text(
        f'configfile: "{ROOT}/config/config.yaml"\n'
        'RESULTS = config["results"]\n'
        f'include: "{ROOT}/workflow/rules/train.smk"\n')
    snakemake = Path(sys.executable).parent / "snakemake"
    proc = subprocess.run([str(snakemake), "-n", "-p", "-c2", "train", "--config",
                           f"results={res}"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    mpiexec = re.escape(str(Path(sys.executable).parent / "mpiexec"))
    assert re.search(mpiexec + r" -n 2 python -m cosmoflow.train --config-json '\{.*\}' "
                     r"--train-manifest \S+/tfrecords/train/manifest.json", out), out[-3000:]
    assert "--ranks 2 --resume" in out
    assert f"{res}/train/model.keras" in out
