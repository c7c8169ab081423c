"""Rule `cola`: evolve one simulation's 2LPT ICs and write one snapshot per redshift."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
sys.path.insert(0, snakemake.scriptdir + "/../..")  # noqa: F821
from cosmoflow.sim_stages import cola  # noqa: E402

cola.run(snakemake.input.ics, snakemake.input.cosmology,  # noqa: F821
         {**snakemake.params.cola, "threads": snakemake.threads},  # noqa: F821
         dict(zip(snakemake.params.redshifts, snakemake.output)),  # noqa: F821
         log=lambda line: print(line, file=sys.stderr, flush=True))
