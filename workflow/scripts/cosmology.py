"""Rule `cosmology`: one simulation's cosmology, seed and split, its derived amplitude by CLASS."""
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
sys.path.insert(0, snakemake.scriptdir + "/../..")  # noqa: F821
from cosmoflow import power, sampling  # noqa: E402

row = snakemake.params.row  # noqa: F821
if sampling.draw_row(int(row["sim"]), snakemake.config) != row:  # noqa: F821
    raise RuntimeError(f"sim {row['sim']}: the workflow's row differs from the sampler's")
full = power.complete_row(row, snakemake.config["cosmology"])  # noqa: F821
sampling.write_row(full, snakemake.output[0])  # noqa: F821
print(f"sim {row['sim']}: {full} ({sampling.derived_key(snakemake.config['cosmology'])} "  # noqa: F821
      f"derived by CLASS)", file=sys.stderr)
