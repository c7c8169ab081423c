"""The five per-simulation stages as functions: what each rule's script does, callable from one
process for many simulations (``cosmoflow.sim_batch``) as well as from one job per stage.

Each takes paths (and the config) and writes its outputs atomically; each returns the summary
line its log ends with. Log lines of long stages go to ``log`` as they happen. The per-rule
scripts (``workflow/scripts/{cosmology,power,ics,cola,voxels}.py``) and the batch runner call
exactly these, so both paths write the same files from the same inputs.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

Log = Callable[[str], None]


def cosmology(row: dict, config: dict, out: str | Path) -> str:
    """Rule ``cosmology``: check the drawn row, derive its amplitude by CLASS, write
    cosmology.json."""
    from cosmoflow import power, sampling

    if sampling.draw_row(int(row["sim"]), config) != row:
        raise RuntimeError(f"sim {row['sim']}: the workflow's row differs from the sampler's")
    full = power.complete_row(row, config["cosmology"])
    sampling.write_row(full, out)
    return (f"sim {row['sim']}: {full} ({sampling.derived_key(config['cosmology'])} "
            f"derived by CLASS)")


def power_spectrum(cosmology_json: str | Path, config: dict, out: str | Path) -> str:
    """Rule ``power_spectrum``: the linear P(k) + growth table of one simulation."""
    from cosmoflow import power, sampling

    row = sampling.read_row(cosmology_json)
    table = power.run(row, config, out)
    return (f"sim {row['sim']}: {table.attrs['transfer']} P(k) on {len(table.k)} k in "
            f"[{table.k[0]:.3g}, {table.k[-1]:.3g}] h/Mpc, sigma_8(table) = "
            f"{table.attrs['sigma8_table']:.6f}")


def initial_conditions(cosmology_json: str | Path, config: dict, power_h5: str | Path,
                       conf: str | Path, transfer: str | Path, ics_out: str | Path,
                       log: Log | None = None) -> str:
    """Rule ``initial_conditions``: MUSIC .conf, transfer table and ics.hdf5 (``config['ics']``
    chooses the generator and its threads)."""
    from cosmoflow import ics, sampling

    row = sampling.read_row(cosmology_json)   # complete: both amplitudes
    attrs = ics.run(row, config, power_h5, conf, transfer, ics_out, log=log)
    return (f"sim {row['sim']}: {attrs['generator']} ICs, N = {attrs['N']}, box = {attrs['box']} "
            f"Mpc/h, z_start = {attrs['z_start']}, D+ = {attrs['Dplus']:.6g}, vfact = "
            f"{attrs['vfact']:.6g}, transfer = {attrs['transfer']}")


def cola(ics_hdf5: str | Path, cosmology_json: str | Path, cola_cfg: Mapping,
         outputs: Mapping[float, str | Path], log: Log) -> None:
    """Rule ``cola``: evolve the ICs, one snapshot per redshift (``outputs``: z -> path);
    ``cola_cfg`` is the config's ``cola`` section with the job's ``threads``."""
    from cosmoflow import sampling
    from pycola_wrapper import simulate

    row = sampling.read_row(cosmology_json)   # with the CLASS-derived amplitude
    simulate.run(ics_hdf5, row, dict(cola_cfg), dict(outputs), log=log)


def voxelize(snapshot: str | Path, out: str | Path, *, sim: str, n_voxels: int, subvolume: int,
             threads: int | None) -> str:
    """Rule ``voxelize``: one snapshot -> voxel counts (docs/data.md, "Voxels")."""
    from cosmoflow.data.voxels import voxelize_snapshot

    attrs = voxelize_snapshot(snapshot, out, sim=sim, n_voxels=n_voxels, subvolume=subvolume,
                              threads=threads)
    return (f"{snapshot} -> {out}: {attrs['n_particles_total']} particles on "
            f"{attrs['n_voxels']}^3 voxels, box {attrs['box']} Mpc/h, z {attrs['z']}")
