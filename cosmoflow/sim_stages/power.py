"""Rule ``power_spectrum``: the linear P(k) + growth table of one simulation."""
from __future__ import annotations

from pathlib import Path


def run(cosmology_json: str | Path, config: dict, out: str | Path) -> str:
    """Rule ``power_spectrum``: the linear P(k) + growth table of one simulation."""
    from cosmoflow import power, sampling

    row = sampling.read_row(cosmology_json)
    table = power.run(row, config, out)
    return (f"sim {row['sim']}: {table.attrs['transfer']} P(k) on {len(table.k)} k in "
            f"[{table.k[0]:.3g}, {table.k[-1]:.3g}] h/Mpc, sigma_8(table) = "
            f"{table.attrs['sigma8_table']:.6f}")
