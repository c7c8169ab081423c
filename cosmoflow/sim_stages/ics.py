"""Rule ``initial_conditions``: MUSIC .conf, transfer table and ics.hdf5 of one simulation."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

Log = Callable[[str], None]


def run(cosmology_json: str | Path, config: dict, power_h5: str | Path,
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
