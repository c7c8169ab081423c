"""Rule `sample`: write the cosmology table (rows computed from the config in common.smk)."""
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
sys.path.insert(0, snakemake.scriptdir + "/../..")  # noqa: F821
from cosmoflow import sampling  # noqa: E402

rows = sampling.sample(snakemake.config)  # noqa: F821
if rows != snakemake.params.rows:  # noqa: F821
    raise RuntimeError("cosmology rows differ between the workflow and the sampler")
sampling.write_table(rows, snakemake.output[0])  # noqa: F821
print(f"wrote {len(rows)} simulations to {snakemake.output[0]}", file=sys.stderr)  # noqa: F821
