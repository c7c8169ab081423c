"""Rule ``voxelize``: one snapshot -> voxel counts."""
from __future__ import annotations

from pathlib import Path


def run(snapshot: str | Path, out: str | Path, *, sim: str, n_voxels: int, subvolume: int,
        threads: int | None) -> str:
    """Rule ``voxelize``: one snapshot -> voxel counts (docs/data.md, "Voxels")."""
    from cosmoflow.data.voxels import voxelize_snapshot

    attrs = voxelize_snapshot(snapshot, out, sim=sim, n_voxels=n_voxels, subvolume=subvolume,
                              threads=threads)
    return (f"{snapshot} -> {out}: {attrs['n_particles_total']} particles on "
            f"{attrs['n_voxels']}^3 voxels, box {attrs['box']} Mpc/h, z {attrs['z']}")
