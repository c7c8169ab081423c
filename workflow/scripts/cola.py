"""Rule `cola`: evolve one simulation's 2LPT ICs and write one snapshot per redshift."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
sys.path.insert(0, snakemake.scriptdir + "/../..")  # noqa: F821
from cosmoflow import sampling  # noqa: E402
from pycola_wrapper import simulate  # noqa: E402

cfg = {**snakemake.params.cola, "threads": snakemake.threads}  # noqa: F821
outputs = dict(zip(snakemake.params.redshifts, snakemake.output))  # noqa: F821
row = sampling.read_row(snakemake.input.cosmology)  # noqa: F821  (with the CLASS-derived amplitude)
simulate.run(snakemake.input.ics, row, cfg, outputs,  # noqa: F821
             log=lambda line: print(line, file=sys.stderr, flush=True))
