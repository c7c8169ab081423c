"""Rule `cosmology`: one simulation's cosmology, seed and split (computed from the config)."""
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
sys.path.insert(0, snakemake.scriptdir + "/../..")  # noqa: F821
from cosmoflow import sampling  # noqa: E402

row = snakemake.params.row  # noqa: F821
if sampling.draw_row(int(row["sim"]), snakemake.config) != row:  # noqa: F821
    raise RuntimeError(f"sim {row['sim']}: the workflow's row differs from the sampler's")
sampling.write_row(row, snakemake.output[0])  # noqa: F821
print(f"sim {row['sim']}: {row}", file=sys.stderr)
