"""Rule ``cola``: one COLA run of a simulation, one snapshot per redshift."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

Log = Callable[[str], None]


def run(ics_hdf5: str | Path, cosmology_json: str | Path, cola_cfg: Mapping,
        outputs: Mapping[float, str | Path], log: Log) -> None:
    """Rule ``cola``: evolve the ICs, one snapshot per redshift (``outputs``: z -> path);
    ``cola_cfg`` is the config's ``cola`` section with the job's ``threads``."""
    from cosmoflow import sampling
    from pycola_wrapper import simulate

    row = sampling.read_row(cosmology_json)   # with the CLASS-derived amplitude
    simulate.run(ics_hdf5, row, dict(cola_cfg), dict(outputs), log=log)
