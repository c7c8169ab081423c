# Validation first, then the names every rule file builds on (see docs/pipeline.md).
import json
import os
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, workflow.basedir)  # the repository's packages, whatever the working dir
from cosmoflow import config as cfgmod
from cosmoflow import sampling

try:
    cfgmod.validate(config, source=", ".join(map(str, workflow.configfiles)) or "config")
except cfgmod.ConfigError as err:
    raise WorkflowError(str(err)) from None
validate(config, schema=str(Path(workflow.basedir) / "config" / "config.schema.yaml"))
config = cfgmod.canonical(cfgmod.fill_defaults(config))  # model.power_bins: 0 = absent

RESULTS = config["results"]
SIMS = [sampling.sim_id(i) for i in range(config["sims"]["n_sims"])]
_ROWS = {row["sim"]: row for row in sampling.sample(config)}
SPLITS = {s: [sim for sim in SIMS if _ROWS[sim]["split"] == s] for s in sampling.SPLITS}
REDSHIFTS = [float(z) for z in config["cola"]["redshifts"]]
# sims.batch: 1 = one job per stage and simulation; K > 1 = one job per K simulations running
# every simulation stage (workflow/rules/simulate.smk); the per-stage rules are then not defined
BATCH = int(config["sims"]["batch"])
BATCHED = BATCH > 1
# The Python of the `python -m cosmoflow...` rules: the one running Snakemake (its venv, whether
# or not that venv is on PATH), as Snakemake's own script: directive does; in a conda env or a
# container (--sdm), that environment's `python` on PATH.
PYTHON = "python" if workflow.deployment_settings.deployment_method else sys.executable

wildcard_constraints:
    sim=r"\d{5}",
    z=r"\d+\.\d\d",


def without_threads(section: dict) -> dict:
    """A config section less its ``threads`` key: what a rule's params (a rerun trigger) get,
    since results do not depend on thread counts."""
    return {k: v for k, v in section.items() if k != "threads"}


def power_params() -> dict:
    """The ``power`` section as a rule parameter (a rerun trigger), ``class_precision`` only when
    set: its default {} (CLASS's own settings) is what results made before the key used, so
    those stay up to date."""
    return {k: v for k, v in config["power"].items() if k != "class_precision" or v}


def class_precision_params() -> dict:
    """``class_precision=...`` for the params of a rule that runs CLASS, {} when not set (see
    power_params): ``params: row=..., **class_precision_params()``."""
    value = config["power"].get("class_precision")
    return {"class_precision": value} if value else {}


def config_json_for_params() -> str:
    """The whole config as JSON, every section less its ``threads`` (see without_threads) and
    ``power`` as power_params, keys sorted: the order in which config files were merged does
    not change it."""
    return json.dumps({k: power_params() if k == "power" else
                       without_threads(v) if isinstance(v, dict) else v for k, v in config.items()},
                      sort_keys=True)


def zstr(z: float) -> str:
    """Redshift as used in file names: 0.5 -> '0.50'."""
    return f"{float(z):.2f}"


def sim_row(sim: str) -> dict:
    """The cosmologies.csv row of one simulation (computed from the config, no file read)."""
    return _ROWS[sim]


def stage_outputs(stage: str) -> list:
    """Every output of one stage (what its target rule asks for)."""
    return STAGE_OUTPUTS[stage]()


STAGE_OUTPUTS = {}  # stage name -> function returning its outputs; filled by each rule file


def final_outputs() -> list:
    """What `snakemake` / `make run` builds: the outputs of the last stage that exists, and the
    cosmology table (cosmologies.csv, which no later stage reads)."""
    return stage_outputs(list(STAGE_OUTPUTS)[-1]) + stage_outputs("cosmologies")


def maybe_temp(path: str, keep: bool):
    """``path`` itself when the file is kept, else Snakemake's ``temp(path)``."""
    return path if keep else temp(path)


def sim_chain(sim: str) -> list:
    """One simulation's kept files in DAG order, one list per stage (upstream first).

    Temporary files (ics.hdf5 with ics.keep false) are absent by design and left out."""
    zs = [zstr(z) for z in REDSHIFTS]
    ics = [[f"{RESULTS}/sims/{sim}/ics.hdf5"]] if config["ics"]["keep"] else []
    return [
        [f"{RESULTS}/sims/{sim}/cosmology.json"],
        [f"{RESULTS}/power/{sim}.h5"],
        *ics,
        [f"{RESULTS}/sims/{sim}/snapshot_z{z}.hdf5" for z in zs],
        [f"{RESULTS}/voxels/{sim}/z{z}.h5" for z in zs],
    ]


def force_broken_chains() -> list:
    """Snakemake does not remake a deleted intermediate file while its dependents exist
    (snakemake/snakemake#1978). A user who deletes one simulation's snapshot (or ICs) expects
    that simulation, and what depends on it, to be redone: force the jobs of missing files
    that have existing downstream files of the same simulation (they are then also newer
    than those files, so the dependents rerun by modification time)."""
    broken = []
    for sim in SIMS:
        seen_missing = []
        for files in sim_chain(sim):
            exists = [os.path.exists(f) for f in files]
            if any(exists) and seen_missing:
                broken += seen_missing
                seen_missing = []
            seen_missing += [f for f, e in zip(files, exists) if not e]
    if broken:
        dag = getattr(workflow, "_dag", None)  # exists while the DAG is being built
        if dag is not None and hasattr(dag, "forcefiles"):
            logger.warning(f"missing intermediate files with existing dependents, remade: {broken}")
            dag.forcefiles.update(broken)
        else:
            logger.warning(f"missing intermediate files with existing dependents: {broken}; "
                           f"remake them with --forcerun {' '.join(broken)}")
    return broken
