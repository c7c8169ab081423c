"""Rule `power_spectrum`: linear P(k) + growth table of one simulation."""
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
sys.path.insert(0, snakemake.scriptdir + "/../..")  # noqa: F821
from cosmoflow.sim_stages import power  # noqa: E402

print(power.run(snakemake.input.cosmology, snakemake.config,  # noqa: F821
                snakemake.output[0]), file=sys.stderr)  # noqa: F821
