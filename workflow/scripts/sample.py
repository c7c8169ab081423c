"""Rule `sample`: gather the per-simulation cosmologies into results/cosmologies.csv."""
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
sys.path.insert(0, snakemake.scriptdir + "/../..")  # noqa: F821
from cosmoflow import sampling  # noqa: E402

rows = [sampling.read_row(path) for path in snakemake.input]  # noqa: F821
sampling.write_table(rows, snakemake.output[0])  # noqa: F821
print(f"wrote {len(rows)} simulations to {snakemake.output[0]}", file=sys.stderr)  # noqa: F821
