"""Every per-rule environment (envs/*.yaml) holds what its rule imports (issue #16).

No conda channel is needed: for each env file a plain venv (``python -m venv``, no system or
main-venv packages) is built from its packages, conda names mapped to pip names (CONDA_TO_PIP)
and pins kept, pip taking wheels from its cache and configured indexes; classy is installed
as the Makefile does (numpy first, the build tools of requirements-build.txt, then
``--no-build-isolation``). In each venv, for each rule using that env file:

- every module of this repository the rule's entry point can reach (imports at module level
  and inside functions, followed through cosmoflow/ and pycola_wrapper/) is imported, and every
  third-party package they name, except the few listed in NOT_IN_ENV with the reason;
- the entry point itself runs: a `script:` rule's script on tiny inputs (one simulation of
  tests/config/tiny.yaml) with a stand-in for Snakemake's `snakemake` object, its outputs
  compared with the same script run by this interpreter; a `shell:` rule's
  ``python -m <module> --help``, and for the train rule one epoch on synthetic data (one rank).

envs/pycola3.yaml is left out: it is the optional pycola3 engine's own stack, built and
tested by pycola_wrapper.pycola3_engine / tests/test_pycola3.py. The venvs live in a
temporary folder, removed at the end of the session.
"""
from __future__ import annotations

import ast
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
import yaml

from conftest import ROOT, TINY

pytestmark = pytest.mark.slow

ENVS = ROOT / "envs"
RULES = ROOT / "workflow" / "rules"
SCRIPTS = ROOT / "workflow" / "scripts"
LOCAL_PACKAGES = {"cosmoflow", "pycola_wrapper"}
SKIPPED_ENVS = {"pycola3.yaml": "the optional pycola3 engine's own stack (tests/test_pycola3.py)"}

# conda-forge name -> pip name, for every conda package the env files may list ("python" is
# the interpreter itself: checked against this one, which builds the venvs)
CONDA_TO_PIP = {
    "numpy": "numpy", "scipy": "scipy", "numba": "numba", "h5py": "h5py", "pyyaml": "PyYAML",
    "jsonschema": "jsonschema", "matplotlib": "matplotlib", "cython": "Cython", "pip": "pip",
    "setuptools": "setuptools", "wheel": "wheel", "pyfftw": "pyFFTW", "scikit-learn": "scikit-learn",
    "mpi4py": "mpi4py", "tensorflow": "tensorflow", "keras": "keras",
}
# pip packages that compile against the installed numpy without declaring a pinned one: installed
# last, with --no-build-isolation, after requirements-build.txt (the Makefile's order)
NO_BUILD_ISOLATION = {"classy"}
# import names whose distribution is called otherwise (for the error messages)
DIST_OF = {"yaml": "pyyaml", "sklearn": "scikit-learn", "keras": "tensorflow-cpu (keras)",
           "tensorflow": "tensorflow-cpu", "classy": "classy"}
# third-party packages a rule's code names but never uses on that rule's path, by env file
NOT_IN_ENV = {
    "*": {"pycola3": "cola.engine: pycola3 runs in its own venv (envs/pycola3.yaml)"},
    "ics": {"classy": "CLASS runs in the cosmology/power rules; ICs read their table"},
    "voxels": {"tensorflow": "only cosmoflow.data.reader/tfrecord functions the voxelize rule never calls"},
    "simulate": {"tensorflow": "only cosmoflow.data.reader/tfrecord functions the voxel stage never calls"},
    "tfrecords": {"tensorflow": "only the reading side of cosmoflow.data.tfrecord (decode_example, "
                                "tf_parse_spec) and cosmoflow.data.reader, which the records rule never calls"},
}


# ---------------------------------------------------------------------------------------------
# What the workflow says: rule -> env file + entry point
# ---------------------------------------------------------------------------------------------

RULE = re.compile(r"^(?P<indent>[ \t]*)rule(?: (?P<name>\w+))?:\n(?P<body>(?:(?P=indent)[ \t]+\S.*\n|[ \t]*\n)*)",
                  re.M)


def workflow_entries() -> dict[tuple[str, str], list[str]]:
    """(env file stem, entry) -> rule names, for every rule with a conda: env. An entry is the
    script's file name (`script:`) or ``-m <module>`` (a `shell:` running ``python -m``)."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(RULES.glob("*.smk")):
        for m in RULE.finditer(path.read_text()):
            body = m["body"]
            env = re.search(r'conda:\s*\n?\s*"[./]*envs/([\w-]+)\.yaml"', body)
            if env is None:
                continue
            name = m["name"] or re.search(r'name:\s*\n?\s*f?"([^"]+)"', body).group(1)
            script = re.search(r'script:\s*\n?\s*"[./]*scripts/([\w.-]+\.py)"', body)
            module = re.search(r"\{PYTHON\} -m ([\w.]+)", body)
            assert script or module, f"{path.name}: rule {name}: neither a script nor `python -m`"
            entry = script.group(1) if script else f"-m {module.group(1)}"
            found.setdefault((env.group(1), entry), []).append(name)
    return found


# ---------------------------------------------------------------------------------------------
# Env file -> pip requirements
# ---------------------------------------------------------------------------------------------

def pip_requirements(env_file: Path) -> tuple[list[str], list[str]]:
    """(requirements installed first, those installed last without build isolation)."""
    spec = yaml.safe_load(env_file.read_text())
    first, last = [], []
    for dep in spec["dependencies"]:
        if isinstance(dep, dict):  # the pip: section, pip syntax already
            for req in dep["pip"]:
                name = re.match(r"[A-Za-z0-9_.\-]+", req).group(0)
                (last if name.lower() in NO_BUILD_ISOLATION else first).append(req.replace(" ", ""))
            continue
        name, constraint = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", dep.strip()).groups()
        constraint = constraint.replace(" ", "")
        if constraint.startswith("=") and not constraint.startswith("=="):
            constraint = "=" + constraint  # conda's `=2.4.6` -> pip's `==2.4.6`
        if name == "python":
            running = f"{sys.version_info.major}.{sys.version_info.minor}"
            assert constraint.lstrip("=") == running, f"{env_file.name}: python {constraint}, running {running}"
            continue
        assert name in CONDA_TO_PIP, f"{env_file.name}: conda package {name!r}: add its pip name to CONDA_TO_PIP"
        first.append(CONDA_TO_PIP[name] + constraint)
    return first, last


def _pip(python: Path, *args: str) -> None:
    """This interpreter's pip, installing into the venv of ``python`` (which needs no pip)."""
    cmd = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-compile",
           "--disable-pip-version-check", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    noise = re.compile(r"^WARNING: Location .* is ignored", re.M)
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-3000:]}\n{noise.sub('', proc.stderr)[-5000:]}"


def _requirement_sets() -> dict[str, tuple[frozenset, frozenset]]:
    """env file stem -> (requirements installed first, those installed last), as sets."""
    return {p.stem: tuple(map(frozenset, pip_requirements(p))) for p in sorted(ENVS.glob("*.yaml"))
            if p.name not in SKIPPED_ENVS}


@pytest.fixture(scope="session")
def venvs(tmp_path_factory):
    """env file stem -> the python of a venv holding its packages (built on first use; env
    files with the same packages share one).

    A venv starts as a hard-linked copy (``cp -al``) of the largest one built so far whose
    packages it all lists, then pip installs the env file's list into it: what the copy had is
    already satisfied, the rest is added, so the venv holds exactly what a build from nothing
    would. pip unlinks a file before it writes one and Python replaces .pyc files, so nothing
    written into a copy reaches the venv it came from. Env files that list TensorFlow first
    build the venv of the packages they all share (TensorFlow's ~1.6 GB is unpacked once, not
    once per env file: ~25 s each on a 2-core machine)."""
    root = tmp_path_factory.mktemp("envs")
    sets = _requirement_sets()
    built: dict[tuple, Path] = {}   # (first, last) -> venv folder
    times: dict[str, float] = {}

    def build(name: str, key: tuple) -> Path:
        t0 = time.perf_counter()
        venv = root / name
        bases = [k for k in built if k[0] <= key[0] and k[1] <= key[1]]
        if bases:
            base = built[max(bases, key=lambda k: len(k[0]) + len(k[1]))]
            subprocess.run(["cp", "-al", str(base), str(venv)], check=True)
        else:
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        python = venv / "bin" / "python"
        _pip(python, *sorted(key[0]))
        if key[1]:
            _pip(python, "-r", str(ROOT / "requirements-build.txt"))
            _pip(python, "--no-build-isolation", *sorted(key[1]))
        built[key] = venv
        times[name] = time.perf_counter() - t0
        return venv

    def get(stem: str) -> Path:
        key = sets[stem]
        if key not in built:
            heavy = [k for k in sets.values() if any(r.startswith("tensorflow") for r in k[0])]
            if key in heavy and len(heavy) > 1:
                shared = (frozenset.intersection(*(k[0] for k in heavy)), frozenset())
                if shared not in built:
                    build("shared-tensorflow", shared)
            if key not in built:
                build(stem, key)
        return built[key] / "bin" / "python"

    yield get
    print("\nvenv build times [s]: " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
    # GBs in ~10^5 files: deleting them took ~60 s of the suite's end; a detached `rm` does it
    # after the suite (renamed first, so nothing can mistake it for a live venv)
    trash = root.with_name(root.name + "-deleting")
    root.rename(trash)
    subprocess.Popen(["rm", "-rf", str(trash)], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_env_files_map_to_pip_requirements():
    """Every env file's packages translate (names, pins, python) and keep pyproject's pins."""
    first, last = pip_requirements(ENVS / "train.yaml")
    assert {"numpy==2.4.6", "numba==0.68.1", "h5py==3.14.0", "PyYAML", "jsonschema", "pip",
            "tensorflow-cpu==2.21.0", "mpi4py==4.1.2", "mpich==5.0.2"} == set(first) and last == []
    first, last = pip_requirements(ENVS / "power.yaml")
    assert "scipy==1.17.1" in first and last == ["classy==3.4.1.0"]
    for env in sorted(ENVS.glob("*.yaml")):
        pip_requirements(env)  # every name mapped, python matches


# ---------------------------------------------------------------------------------------------
# What an entry point imports (static, through this repository's modules)
# ---------------------------------------------------------------------------------------------

def _module_file(name: str) -> Path | None:
    path = ROOT / Path(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def _imports_of(path: Path, module: str) -> list[tuple[str, int]]:
    """(absolute module name, line) of every import in a file, at module level or inside functions."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            out.append((base, node.lineno))
            out += [(f"{base}.{a.name}", node.lineno) for a in node.names]  # `from pkg import module`
    return out


def reachable_imports(entry: str) -> tuple[list[str], dict[str, str]]:
    """(this repository's modules an entry point can reach, third-party top-level name -> where
    first named). ``entry`` is a workflow script's file name or ``-m <module>``."""
    if entry.startswith("-m "):
        roots, todo = [], [entry[3:] + ".__main__"]  # what `python -m package` runs
    else:
        roots = _imports_of(SCRIPTS / entry, "")
        todo = [name for name, _ in roots if name.split(".")[0] in LOCAL_PACKAGES]
    local: set[str] = set()
    third: dict[str, str] = {}
    for name, line in roots:
        top = name.split(".")[0]
        if top and top not in LOCAL_PACKAGES and top not in sys.stdlib_module_names:
            third.setdefault(top, f"workflow/scripts/{entry}:{line}")
    while todo:
        module = todo.pop()
        if module in local:
            continue
        path = _module_file(module)
        if path is None:
            continue  # `from package import function`: not a module
        local.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parents' __init__ run first
        for name, line in _imports_of(path, module):
            top = name.split(".")[0]
            if top in LOCAL_PACKAGES:
                todo.append(name)
            elif top and top not in sys.stdlib_module_names:
                third.setdefault(top, f"{path.relative_to(ROOT)}:{line}")
    return sorted(local), third


def test_reachable_imports_follow_lazy_imports_and_package_inits():
    """What the env checks rely on: `python -m cosmoflow.train` reaches TensorFlow, mpi4py and
    (through cosmoflow.data's __init__) numba and h5py, though the CLI imports them lazily."""
    local, third = reachable_imports("-m cosmoflow.train")
    assert {"cosmoflow.train.__main__", "cosmoflow.train.cli", "cosmoflow.data", "cosmoflow.data.voxels",
            "cosmoflow.config", "cosmoflow"} <= set(local)
    assert {"tensorflow", "mpi4py", "numba", "h5py", "numpy", "yaml", "jsonschema"} <= set(third)
    local, third = reachable_imports("voxels.py")
    assert "cosmoflow.data.voxels" in local and {"numba", "h5py", "numpy"} <= set(third)


# ---------------------------------------------------------------------------------------------
# Tiny inputs: the script rules' chain for one simulation, run by this interpreter
# ---------------------------------------------------------------------------------------------

# Runs one workflow script as Snakemake's script: directive does, with a stand-in for the
# injected `snakemake` object (standard library only: the env is what is being checked).
RUNNER = r"""
import json, runpy, sys
class Named(list):
    def __init__(self, items):
        if isinstance(items, dict):
            super().__init__(items.values())
            self.__dict__.update(items)
        else:
            super().__init__(items)
    def get(self, key, default=None):   # as snakemake's Namedlist.get
        return self.__dict__.get(key, default)
class Snakemake:
    pass
spec = json.load(open(sys.argv[1]))
sm = Snakemake()
for key in ("input", "output", "params", "log", "wildcards", "resources"):
    setattr(sm, key, Named(spec.get(key, [])))
sm.config, sm.threads, sm.scriptdir = spec["config"], spec["threads"], spec["scriptdir"]
sm.rule = spec["rule"]
runpy.run_path(spec["script"], init_globals={"snakemake": sm}, run_name="__main__")
"""


def _clean_env() -> dict:
    """The environment without this venv's Python settings (PYTHONPATH would leak packages)."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")} | {
        "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


def run_script(python: Path | str, rule: str, script: str, spec: dict, workdir: Path) -> None:
    """Run workflow/scripts/<script> with ``python`` (isolated: no PYTHONPATH, no user site)."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{rule}.log"
    spec = {**spec, "rule": rule, "script": str(SCRIPTS / script), "scriptdir": str(SCRIPTS),
            "log": [str(log)], "threads": 1}
    spec_file = workdir / f"{rule}.json"
    spec_file.write_text(json.dumps(spec, default=str))
    proc = subprocess.run([str(python), "-I", "-c", RUNNER, str(spec_file)], capture_output=True, text=True,
                          cwd=workdir, env=_clean_env(), timeout=900)
    text = log.read_text() if log.exists() else ""
    assert proc.returncode == 0, f"{rule} ({script}) with {python} failed:\n{proc.stderr[-4000:]}\nlog:\n{text[-3000:]}"


def script_calls(config: dict, row: dict, src: Path, out: Path) -> dict[str, tuple[str, dict]]:
    """rule -> (script, snakemake fields) on the chain's files in ``src``, writing under ``out``;
    the fields the workflow's rules give (workflow/rules/*.smk)."""
    sim = row["sim"]
    zs = [f"{float(z):.2f}" for z in config["cola"]["redshifts"]]
    n_sub = (config["voxels"]["n_voxels"] // config["voxels"]["subvolume"]) ** 3
    per_sim = 1 if config["tfrecords"].get("redshift_channels", False) else len(zs)
    n_files = math.ceil(per_sim * n_sub / config["tfrecords"]["samples_per_file"])
    return {
        "cosmology": ("cosmology.py", dict(output=[out / "cosmology.json"], params={"row": row})),
        "power_spectrum": ("power.py", dict(input={"cosmology": src / "cosmology.json"},
                                            output=[out / "power.h5"],
                                            params={"power": config["power"],
                                                    "gridscale": config["cola"]["gridscale"]})),
        "sample": ("sample.py", dict(input=[src / "cosmology.json"], output=[out / "cosmologies.csv"])),
        "initial_conditions": ("ics.py", dict(
            input={"cosmology": src / "cosmology.json", "power": src / "power.h5"},
            output={"conf": out / "music.conf", "transfer": out / "transfer_camb.txt", "ics": out / "ics.hdf5"})),
        "cola": ("cola.py", dict(
            input={"ics": src / "ics.hdf5", "power": src / "power.h5", "cosmology": src / "cosmology.json"},
            output=[out / f"snapshot_z{z}.hdf5" for z in zs],
            params={"row": row, "cola": {k: v for k, v in config["cola"].items() if k != "threads"},
                    "redshifts": [float(z) for z in config["cola"]["redshifts"]]})),
        "voxelize": ("voxels.py", dict(
            input=[src / f"snapshot_z{zs[0]}.hdf5"], output=[out / f"z{zs[0]}.h5"],
            params={"n_voxels": config["voxels"]["n_voxels"], "subvolume": config["voxels"]["subvolume"]},
            wildcards={"sim": sim, "z": zs[0]})),
        # sims.batch > 1: every stage of the simulation in one process, the same files
        "simulate": ("simulate.py", dict(
            output=[out / "cosmology.json", out / "power.h5", out / "music.conf", out / "transfer_camb.txt",
                    out / "ics.hdf5"] + [out / f"snapshot_z{z}.hdf5" for z in zs] + [out / f"z{z}.h5" for z in zs],
            params={"rows": [row], "redshifts": [float(z) for z in config["cola"]["redshifts"]],
                    "files": {sim: {
                        "cosmology": out / "cosmology.json", "power": out / "power.h5", "conf": out / "music.conf",
                        "transfer": out / "transfer_camb.txt", "ics": out / "ics.hdf5",
                        "snapshots": [out / f"snapshot_z{z}.hdf5" for z in zs],
                        "voxels": [out / f"z{z}.h5" for z in zs],
                        "logs": {**{s: out / f"{s}_stage.log" for s in ("cosmology", "power", "ics", "cola")},
                                 "voxels": [out / f"voxels_z{z}.log" for z in zs]}}},
                    "power": config["power"]})),
        "tfrecords_train": ("tfrecords.py", dict(
            input=[src / f"z{z}.h5" for z in zs],
            output={"manifest": out / "tfrecords" / "manifest.json",
                    "records": [out / "tfrecords" / f"train-{i:04d}.tfrecord" for i in range(n_files)]},
            params={"split": "train", "splits": {"train": [sim], "val": [], "test": []}})),
        # on an untrained network laid out as the train stage lays out a run (chain: src/train)
        "predict": ("predict.py", dict(
            input={"model": src / "train" / "model.keras", "label_norm": src / "train" / "label_norm.json",
                   "manifest": src / "tfrecords" / "manifest.json", "inputs": [src / f"z{zs[0]}.h5"]},
            output=[out / "predict" / "predictions.csv"],
            params={"entries": [str(src / f"z{zs[0]}.h5")], "options": config["predict"]})),
    }


@pytest.fixture(scope="session")
def chain(tmp_path_factory):
    """The tiny config, its first simulation's row and every script rule's outputs, made by
    this interpreter (the inputs of the env checks, and the outputs they are compared with)."""
    from datagen import make_trained_run

    from cosmoflow import config as cfgmod
    from cosmoflow import sampling

    config = cfgmod.load(ROOT / "config" / "config.yaml", TINY)
    row = sampling.sample(config)[0]
    src = tmp_path_factory.mktemp("chain")
    for rule, (script, spec) in script_calls(config, row, src, src).items():
        if rule == "simulate":   # the per-stage scripts make the chain; simulate is compared with it
            continue
        if rule == "predict":    # a trained run to predict with (the train rule is a shell: rule)
            manifest = src / "tfrecords" / "manifest.json"
            make_trained_run(src / "train", manifest, manifest, config)
        run_script(sys.executable, rule, script, {**spec, "config": config}, src)
    return config, row, src


def _same_outputs(mine: Path, reference: Path) -> None:
    """Record files and manifests equal byte for byte (cosmoflow.data.tfrecord_io writes the
    features in one order, so the manifests' checksums agree too); other text outputs equal;
    HDF5 outputs with the same datasets and shapes."""
    assert mine.is_file() and mine.stat().st_size > 0, mine
    if mine.suffix == ".tfrecord" or mine.name == "manifest.json":
        assert mine.read_bytes() == reference.read_bytes(), mine.name
    elif mine.suffix in (".json", ".csv", ".conf", ".txt"):
        assert mine.read_text() == reference.read_text().replace(str(reference.parent), str(mine.parent)), mine.name
    elif mine.suffix in (".h5", ".hdf5"):
        def shapes(path):
            with h5py.File(path, "r") as h5:
                found = {}
                h5.visititems(lambda name, obj: found.update({name: obj.shape}) if isinstance(obj, h5py.Dataset) else None)
                return found
        assert shapes(mine) == shapes(reference), mine.name


# ---------------------------------------------------------------------------------------------
# The checks, one per env file
# ---------------------------------------------------------------------------------------------

ENV_STEMS = sorted(p.stem for p in ENVS.glob("*.yaml") if p.name not in SKIPPED_ENVS)


def test_every_env_file_is_used_and_every_entry_is_checked():
    entries = workflow_entries()
    assert {env for env, _ in entries} == set(ENV_STEMS), entries
    known = {"cosmology.py", "power.py", "sample.py", "ics.py", "cola.py", "voxels.py", "tfrecords.py",
             "simulate.py", "predict.py", "-m cosmoflow.train", "-m cosmoflow.evaluate"}
    assert {entry for _, entry in entries} == known, f"a new entry point: teach test_envs.py to run it: {entries}"


@pytest.mark.parametrize("stem", ENV_STEMS)
def test_env_runs_its_rules(stem, venvs, chain, tmp_path):
    config, row, src = chain
    entries = {entry: rules for (env, entry), rules in workflow_entries().items() if env == stem}
    assert entries, f"envs/{stem}.yaml: no rule uses it"
    python = venvs(stem)
    exempt = {**NOT_IN_ENV["*"], **NOT_IN_ENV.get(stem, {})}
    for entry, rules in entries.items():
        # 1. every module the entry point can reach imports, and every package it names
        local, third = reachable_imports(entry)
        # (a package's __main__ runs its program when imported: step 2 runs it with --help)
        wanted = {"local": [m for m in local if not m.endswith(".__main__")],
                  "third": sorted(set(third) - set(exempt))}
        probe = ("import importlib, json, sys\nsys.path.insert(0, sys.argv[1])\nfailed = {}\n"
                 "for name in json.loads(sys.argv[2])['local'] + json.loads(sys.argv[2])['third']:\n"
                 "    try:\n        importlib.import_module(name)\n"
                 "    except Exception as err:\n        failed[name] = f'{type(err).__name__}: {err}'\n"
                 "print(json.dumps(failed))\n")
        proc = subprocess.run([str(python), "-I", "-c", probe, str(ROOT), json.dumps(wanted)], capture_output=True,
                              text=True, cwd=tmp_path, env=_clean_env(), timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        failed = json.loads(proc.stdout.strip().splitlines()[-1])
        assert not failed, (f"envs/{stem}.yaml lacks what rule(s) {rules} ({entry}) import: " + "; ".join(
            f"{name} ({DIST_OF.get(name, name)}, named at {third.get(name, 'this repository')}): {err}"
            for name, err in failed.items()))
        # 2. the entry point runs
        if entry.startswith("-m "):
            proc = subprocess.run([str(python), "-m", entry[3:], "--help"], capture_output=True, text=True,
                                  cwd=ROOT, env=_clean_env(), timeout=600)
            assert proc.returncode == 0 and "usage:" in proc.stdout, f"{entry} --help:\n{proc.stderr[-3000:]}"
            if entry == "-m cosmoflow.train":  # ~20 s: one epoch on 4 synthetic samples, one rank
                sections = {k: config[k] for k in ("model", "train", "data")}
                sections["train"] = {**sections["train"], "epochs": 1, "decay_epochs": 1, "ranks": 1}
                out = tmp_path / "train"
                proc = subprocess.run([str(python), "-m", "cosmoflow.train", "--config-json", json.dumps(sections),
                                       "--synthetic", "4:2", "--out", str(out), "--ranks", "1"],
                                      capture_output=True, text=True, cwd=ROOT, env=_clean_env(), timeout=600)
                assert proc.returncode == 0, f"{entry} on synthetic data:\n{proc.stderr[-4000:]}"
                assert (out / "model.keras").stat().st_size > 0
                assert len((out / "history.csv").read_text().strip().splitlines()) == 2  # header + epoch 1
            continue
        out = tmp_path / "out"
        calls = script_calls(config, row, src, out)
        # a loop's rules: tfrecords_{_split} checked with the train split's, simulate_{_b:05d} as simulate
        rule = next(r for r in rules for r in (re.sub(r"\{[^}]*\}", "train", r), re.sub(r"_\{[^}]*\}", "", r))
                    if r in calls)
        script, spec = calls[rule]
        assert script == entry
        run_script(python, rule, script, {**spec, "config": config}, out)
        outputs = spec["output"].values() if isinstance(spec["output"], dict) else spec["output"]
        for path in outputs:
            for one in path if isinstance(path, list) else [path]:
                _same_outputs(Path(one), src / Path(one).relative_to(out))
