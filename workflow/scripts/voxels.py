"""Snapshot -> voxel counts (rule voxelize). Layout: docs/data.md, "Voxels"."""
import sys; sys.stderr = open(snakemake.log[0], "w")  # noqa: E702,F821
from pathlib import Path
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # noqa: F821  (repo root)
from cosmoflow.sim_stages import voxels  # noqa: E402

sm = snakemake  # noqa: F821
print(voxels.run(sm.input[0], sm.output[0], sim=sm.wildcards.sim, n_voxels=sm.params.n_voxels,
                 subvolume=sm.params.subvolume, threads=sm.threads), file=sys.stderr)
