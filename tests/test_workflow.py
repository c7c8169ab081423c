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


@pytest.mark.parametrize("n_cal, split", [(0, "val"), (1, "cal")])
def test_gaussian_widths_are_calibrated_on_the_calibration_split(tmp_path, n_cal, split):
    """sims.n_cal > 0: a TFRecords rule packs the calibration split and evaluate calibrates the
    gaussian head's widths on it; without it, on the validation split (no 'cal' records)."""
    extra = tmp_path / "cal.yaml"
    extra.write_text(yaml.safe_dump({"sims": {"n_sims": 4 + n_cal, "n_val": 1, "n_test": 1,
                                              "n_cal": n_cal}, "model": {"head": "gaussian"}}))
    plan = run_snakemake(tmp_path, "-n", "-p", configfiles=(TINY, extra))
    out = plan.stdout
    assert f"--calibration-manifest results/tfrecords/{split}/manifest.json" in out, out[-3000:]
    assert ("rule tfrecords_cal:" in out) == bool(n_cal)
    assert "results/tfrecords/val/manifest.json" in out  # validation still selects the epoch


def test_paper_config_dry_run_plans_every_simulation(tmp_path):
    proc = run_snakemake(tmp_path, "-n", "--quiet", "rules", configfiles=(ROOT / "config/paper.yaml",),
                         timeout=300)
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, re.M))
    assert int(counts["power_spectrum"]) == 1579


# a rule, named (`rule x:`) or anonymous with a `name:` directive (rules defined in a loop), at any
# indentation; its body is every following line indented deeper (or blank)
RULE = re.compile(r"^(?P<indent>[ \t]*)rule(?: (?P<name>\w+))?:\n(?P<body>(?:(?P=indent)[ \t]+\S.*\n|[ \t]*\n)*)",
                  re.M)
TARGET_DIRECTIVES = {"input", "localrule", "default_target"}  # a stage's target rule, `all`


def _parse_rules(text: str) -> list[tuple[str, str, set]]:
    """(name, body, directives) of every rule defined in a workflow file's text; a loop's
    ``name: f"tfrecords_{_split}"`` is returned as the template ``tfrecords_{_split}``."""
    found = []
    for m in RULE.finditer(text):
        body, step = m["body"], m["indent"] + "    "
        name = m["name"]
        if name is None:
            declared = re.search(rf'^{step}name:\s*\n?\s*f?"([^"]+)"', body, re.M)
            assert declared, f"an anonymous rule without a name: directive:\n{body}"
            name = declared.group(1)
        found.append((name, body, set(re.findall(rf"^{step}(\w+):", body, re.M))))
    return found


def _template_matches(template: str, rule: str) -> bool:
    """Whether a rule name fits a name template (each ``{...}`` standing for a word)."""
    return re.fullmatch("".join(r"\w+" if part.startswith("{") else re.escape(part)
                                for part in re.split(r"(\{[^}]*\})", template)), rule) is not None


def test_every_rule_has_log_benchmark_conda_threads_resources(tmp_path):
    """Every rule Snakemake knows (those made in a loop too, e.g. tfrecords_{split}) has
    output, log, benchmark, conda (an existing file), threads and resources; target rules
    (input only) are exempt."""
    listed = run_snakemake(tmp_path, "--list-rules").stdout.split()
    assert {"tfrecords_train", "tfrecords_val", "tfrecords_test", "train", "evaluate"} <= set(listed), listed
    batched = tmp_path / "batch.yaml"   # sims.batch > 1: the batch rules replace the per-stage ones
    batched.write_text(yaml.safe_dump({"sims": {"n_sims": 4, "n_val": 1, "n_test": 1, "batch": 2}}))
    listed_batched = run_snakemake(tmp_path, "--list-rules", configfiles=(TINY, batched)).stdout.split()
    assert {"simulate_00000", "simulate_00001"} <= set(listed_batched) and "cola" not in listed_batched
    listed = sorted(set(listed) | set(listed_batched))
    definitions = [(path.name, *rule)
                   for path in [ROOT / "Snakefile", *sorted((ROOT / "workflow/rules").glob("*.smk"))]
                   for rule in _parse_rules(path.read_text())]
    checked = []
    for rule in listed:
        matches = [d for d in definitions if _template_matches(d[1], rule)]
        assert len(matches) == 1, f"rule {rule}: {len(matches)} definitions in the workflow files"
        file, _, body, directives = matches[0]
        if directives <= TARGET_DIRECTIVES:
            continue
        missing = {"output", "log", "benchmark", "conda", "threads", "resources"} - directives
        assert not missing, f"{file}: rule {rule} lacks {sorted(missing)}"
        env = re.search(r'conda:\n\s+"([^"]+)"', body).group(1)
        assert (ROOT / "workflow/rules" / env).resolve().is_file(), f"{file}: rule {rule}: {env} missing"
        checked.append(rule)
    assert {"tfrecords_train", "tfrecords_val", "tfrecords_test", "cola", "train", "simulate_00001"} <= set(checked), checked


def test_rule_parser_sees_loop_rules_and_their_directives():
    """What the conventions test relies on: a loop-defined rule is found with its own
    directives (here no log), and its name template matches the names the loop makes."""
    text = ('for _s in ("a", "b"):\n\n    rule:\n        name:\n            f"x_{_s}"\n'
            '        output:\n            "o"\n        threads: 1\n\n\nrule y:\n    input:\n        "i"\n')
    assert [(name, directives) for name, _, directives in _parse_rules(text)] == [
        ("x_{_s}", {"name", "output", "threads"}), ("y", {"input"})]
    assert _template_matches("x_{_s}", "x_a") and not _template_matches("x_{_s}", "y_a")
    assert not _template_matches("x_{_s}", "x_") and _template_matches("y", "y")


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


def _readme_outputs() -> dict[str, list[str]]:
    """The README's `make run` outputs block: listed path -> the file names its description
    names (``results/sims/{sim}/  cosmology.json, music.conf, ...``)."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### What `make run` gives"):]
    block = re.search(r"```\n(.*?)```", section, re.S).group(1)
    entries: dict[str, list[str]] = {}
    last = None
    for line in block.splitlines():
        if line.startswith("results/"):
            paths, description = (re.split(r"\s{2,}", line, maxsplit=1) + [""])[:2]
            for last in paths.split(", "):
                entries[last] = []
        else:
            description = line  # a description continued on the next line
        entries[last] += re.findall(r"[\w{}.]+\.[a-z]\w*\b", description)
    return entries


def _path_regex(path: str) -> str:
    """`results/sims/{sim}/` -> a regex: {sim} a simulation, {a,b} either, <id> any name."""
    out = ""
    for part in re.split(r"(\{[^}]*\}|<[^>]*>)", path):
        if part == "{sim}":
            out += r"\d{5}"
        elif part.startswith("{"):
            out += "(?:" + "|".join(map(re.escape, part[1:-1].split(","))) + ")"
        elif part.startswith("<"):
            out += r"[^/]+"
        else:
            out += re.escape(part)
    return out


def test_default_target_builds_what_the_readme_lists(tmp_path):
    """`make run` (snakemake's default target on config/config.yaml, here a dry run) plans every
    file the README lists as its output, results/cosmologies.csv included (the `sample` job)."""
    # --summary: a dry run listing every output file of the default target's jobs, one row each
    summary = run_snakemake(tmp_path, "--summary", configfiles=(ROOT / "config" / "config.yaml",))
    rows = {row[0]: row for row in (line.split("\t") for line in summary.stdout.splitlines()[1:]) if len(row) > 5}
    outputs = set(rows)
    assert rows["results/cosmologies.csv"][2] == "sample", summary.stdout[:2000]
    assert rows["results/evaluate/metrics.json"][2] == "evaluate"
    assert {row[5] for row in rows.values()} == {"update pending"}  # all planned (empty folder)
    listed = _readme_outputs()
    assert "results/cosmologies.csv" in listed and "results/evaluate/" in listed, listed
    for path, names in listed.items():
        if path in ("results/logs/", "results/benchmarks/"):  # every rule has both (conventions test)
            continue
        regex = _path_regex(path)
        if not path.endswith("/"):
            assert any(re.fullmatch(regex, f) for f in outputs), f"README lists {path}: not made by `make run`"
            continue
        inside = [f for f in outputs if re.match(regex, f)]
        assert inside, f"README lists {path}: `make run` makes nothing there"
        for name in names:
            assert any(re.fullmatch(regex + r"(?:.*/)?" + re.escape(name), f) for f in inside), \
                f"README lists {name} in {path}: not made by `make run`"
