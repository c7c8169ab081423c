"""The Snakemake DAG: real runs of the stages on the tiny config, reruns, conventions."""
import re
import time
from pathlib import Path

import h5py
import pytest
import yaml

from conftest import ROOT, TINY, run_snakemake
from cosmoflow import sampling
from pycola_wrapper.power import PowerTable, sigma_R


def test_first_two_stages_run_and_rerun_does_nothing(tmp_path):
    run_snakemake(tmp_path, "power")
    rows = sampling.read_table(tmp_path / "results/cosmologies.csv")
    assert [r["sim"] for r in rows] == ["00000", "00001", "00002", "00003"]
    for r in rows:
        t = PowerTable.load(tmp_path / f"results/power/{r['sim']}.h5")
        assert t.attrs["transfer"] == "class"
        assert sigma_R(t.k, t.pk) == pytest.approx(r["sigma_8"], rel=3e-3)
        assert (tmp_path / f"results/logs/power/{r['sim']}.log").stat().st_size > 0
        assert (tmp_path / f"results/benchmarks/power/{r['sim']}.tsv").exists()
    again = run_snakemake(tmp_path, "power", "-n")
    assert "Nothing to be done" in again.stdout + again.stderr

    # growing n_sims keeps the existing simulations: only the new ones (and the table) are planned
    more = tmp_path / "more.yaml"
    more.write_text(yaml.safe_dump({"sims": {"n_sims": 6, "n_val": 1, "n_test": 1}}))
    plan = run_snakemake(tmp_path, "power", "-n", "--quiet", "rules", configfiles=(TINY, more))
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", plan.stdout, re.M))
    assert counts.get("power_spectrum") == "2" and counts.get("sample") == "1", plan.stdout

    # one simulation can be rerun alone
    target = f"results/power/00002.h5"
    before = (tmp_path / target).stat().st_mtime_ns
    time.sleep(0.01)
    run_snakemake(tmp_path, target, "--forcerun", "power_spectrum")
    assert (tmp_path / target).stat().st_mtime_ns > before
    assert PowerTable.load(tmp_path / "results/power/00003.h5").attrs["sim"] == "00003"


def test_ics_keep_false_deletes_ics_after_cola_and_reruns_stay_quiet(tmp_path):
    """ics.keep false: ics.hdf5 is a temp() file, gone once COLA has read it, and a rerun
    does nothing (the absent temp file is not taken for a deleted intermediate)."""
    drop = tmp_path / "drop.yaml"
    drop.write_text(yaml.safe_dump({"ics": {"keep": False}}))
    sim = tmp_path / "results/sims/00001"
    snap = sim / "snapshot_z0.00.hdf5"
    run_snakemake(tmp_path, "results/voxels/00001/z0.00.h5", configfiles=(TINY, drop))
    assert snap.exists() and (sim / "music.conf").exists()
    assert not (sim / "ics.hdf5").exists()
    again = run_snakemake(tmp_path, "results/voxels/00001/z0.00.h5", "-n", configfiles=(TINY, drop))
    assert "Nothing to be done" in again.stdout + again.stderr
    plan = run_snakemake(tmp_path, "-n", configfiles=(TINY, drop))  # the default target `all`
    assert "missing intermediate" not in plan.stdout + plan.stderr


def test_eisenstein_option_is_recorded(tmp_path):
    eh = tmp_path / "eh.yaml"
    eh.write_text(yaml.safe_dump({"sims": {"n_sims": 2, "n_val": 0, "n_test": 1},
                                  "power": {"transfer": "eisenstein"}}))
    run_snakemake(tmp_path, "results/power/00001.h5", configfiles=(TINY, eh))
    with h5py.File(tmp_path / "results/power/00001.h5") as h5:
        assert h5.attrs["transfer"] == "eisenstein"


def test_paper_config_dry_run_plans_every_simulation(tmp_path):
    proc = run_snakemake(tmp_path, "-n", "--quiet", "rules", configfiles=(ROOT / "config/paper.yaml",),
                         timeout=300)
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, re.M))
    assert int(counts["power_spectrum"]) == 1579


RULE = re.compile(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", re.M)


def test_every_rule_has_log_benchmark_conda_threads_resources():
    smk = sorted((ROOT / "workflow/rules").glob("*.smk"))
    assert smk
    checked = 0
    for path in smk:
        for name, body in RULE.findall(path.read_text()):
            directives = set(re.findall(r"^    (\w+):", body, re.M))
            if directives <= {"input", "localrule"}:  # a stage's target rule
                continue
            missing = {"output", "log", "benchmark", "conda", "threads", "resources"} - directives
            assert not missing, f"{path.name}: rule {name} lacks {sorted(missing)}"
            env = re.search(r'conda:\n\s+"([^"]+)"', body).group(1)
            assert (path.parent / env).resolve().is_file(), f"{path.name}: rule {name}: {env} missing"
            checked += 1
    assert checked >= 2


def _pins(text: str) -> dict:
    return {m[0].lower(): m[1] for m in re.findall(r"([A-Za-z0-9_.\-]+)\s*(?:==|=)\s*([0-9][\w.]*)", text)}


def test_env_files_match_the_pinned_dependencies():
    pyproject = _pins((ROOT / "pyproject.toml").read_text())
    pyproject.update(_pins((ROOT / "requirements-build.txt").read_text()))
    pyproject["classy"] = "3.4.1.0"  # installed by the Makefile after numpy
    pyproject["python"] = "3.11"
    for env in sorted((ROOT / "envs").glob("*.yaml")):
        if env.name == "pycola3.yaml":  # the original code's own stack (numpy < 2) by design
            continue
        spec = yaml.safe_load(env.read_text())
        assert spec.get("channels", [])[:1] == ["conda-forge"], env.name
        flat = []
        for dep in spec["dependencies"]:
            flat += dep["pip"] if isinstance(dep, dict) else [dep]
        for dep in flat:
            pins = _pins(dep.replace(" ", ""))
            for name, version in pins.items():
                name = name.replace("tensorflow", "tensorflow-cpu") if name == "tensorflow" else name
                if name in pyproject:
                    assert pyproject[name] == version, f"{env.name}: {name} {version} != {pyproject[name]}"
