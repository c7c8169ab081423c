"""Rule `simulate_NNNNN`: every simulation stage of one batch of simulations in this process."""
import sys

sys.path.insert(0, snakemake.scriptdir + "/../..")  # noqa: F821 (snakemake is injected)
from cosmoflow import sim_batch  # noqa: E402

sm = snakemake  # noqa: F821
zs = [float(z) for z in sm.params.redshifts]
paths = {}
for sim, f in sm.params.files.items():
    paths[sim] = sim_batch.SimPaths(
        cosmology=f["cosmology"], power=f["power"], conf=f["conf"], transfer=f["transfer"],
        ics=f["ics"], snapshots=dict(zip(zs, f["snapshots"])), voxels=dict(zip(zs, f["voxels"])),
        logs={**{s: f["logs"][s] for s in ("cosmology", "power", "ics", "cola")},
              **{("voxels", z): p for z, p in zip(zs, f["logs"]["voxels"])}})
sim_batch.run_batch(sm.params.rows, sm.config, paths, threads=sm.threads,
                    log=lambda line: print(line, flush=True))
