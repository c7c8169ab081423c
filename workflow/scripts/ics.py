"""Rule `initial_conditions`: MUSIC .conf + ics.hdf5 of one simulation (builtin or real MUSIC)."""
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
sys.path.insert(0, snakemake.scriptdir + "/../..")  # noqa: F821
from cosmoflow import ics, sampling  # noqa: E402

row = sampling.read_row(snakemake.input.cosmology)  # noqa: F821  (complete: both amplitudes)
out = snakemake.output  # noqa: F821
attrs = ics.run(row, snakemake.config, snakemake.input.power, out.conf, out.transfer, out.ics,  # noqa: F821
                log=lambda msg: print(msg, file=sys.stderr, flush=True))
print(f"sim {row['sim']}: {attrs['generator']} ICs, N = {attrs['N']}, box = {attrs['box']} Mpc/h, "
      f"z_start = {attrs['z_start']}, D+ = {attrs['Dplus']:.6g}, vfact = {attrs['vfact']:.6g}, "
      f"transfer = {attrs['transfer']}", file=sys.stderr)
