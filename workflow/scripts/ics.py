"""Rule `initial_conditions`: MUSIC .conf + ics.hdf5 of one simulation (builtin or real MUSIC)."""
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
sys.path.insert(0, snakemake.scriptdir + "/../..")  # noqa: F821
from cosmoflow.sim_stages import ics  # noqa: E402

out = snakemake.output  # noqa: F821
print(ics.run(snakemake.input.cosmology, snakemake.config,  # noqa: F821
              snakemake.input.power, out.conf, out.transfer, out.ics,  # noqa: F821
              log=lambda msg: print(msg, file=sys.stderr, flush=True)),
      file=sys.stderr)
