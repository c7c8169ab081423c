"""Rule `cosmology`: one simulation's cosmology, seed and split, its derived amplitude by CLASS."""
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
sys.path.insert(0, snakemake.scriptdir + "/../..")  # noqa: F821
from cosmoflow.sim_stages import cosmology  # noqa: E402

print(cosmology.run(snakemake.params.row, snakemake.config, snakemake.output[0]),  # noqa: F821
      file=sys.stderr)
