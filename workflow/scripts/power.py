"""Rule `power_spectrum`: linear P(k) + growth table of one simulation."""
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
sys.path.insert(0, snakemake.scriptdir + "/../..")  # noqa: F821
from cosmoflow import power, sampling  # noqa: E402

row = sampling.read_row(snakemake.input.cosmology)  # noqa: F821
table = power.run(row, snakemake.config, snakemake.output[0])  # noqa: F821
print(f"sim {row['sim']}: {table.attrs['transfer']} P(k) on {len(table.k)} k in "
      f"[{table.k[0]:.3g}, {table.k[-1]:.3g}] h/Mpc, sigma_8(table) = {table.attrs['sigma8_table']:.6f}",
      file=sys.stderr)
