# Validation first, then the names every rule file builds on (see docs/pipeline.md).
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
config = cfgmod.fill_defaults(config)

RESULTS = config["results"]
SIMS = [sampling.sim_id(i) for i in range(config["sims"]["n_sims"])]
_ROWS = {row["sim"]: row for row in sampling.sample(config)}
SPLITS = {s: [sim for sim in SIMS if _ROWS[sim]["split"] == s] for s in sampling.SPLITS}
REDSHIFTS = [float(z) for z in config["cola"]["redshifts"]]

wildcard_constraints:
    sim=r"\d{5}",
    z=r"\d+\.\d\d",


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
    """Outputs of the last stage that exists (what `snakemake` / `make run` builds)."""
    return stage_outputs(list(STAGE_OUTPUTS)[-1])
