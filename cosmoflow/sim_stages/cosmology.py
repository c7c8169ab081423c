"""Rule ``cosmology``: one simulation's drawn row, its derived amplitude by CLASS."""
from __future__ import annotations

from pathlib import Path


def run(row: dict, config: dict, out: str | Path) -> str:
    """Rule ``cosmology``: check the drawn row, derive its amplitude by CLASS, write
    cosmology.json."""
    from cosmoflow import power, sampling

    if sampling.draw_row(int(row["sim"]), config) != row:
        raise RuntimeError(f"sim {row['sim']}: the workflow's row differs from the sampler's")
    full = power.complete_row(row, config["cosmology"], config["power"].get("class_precision"))
    sampling.write_row(full, out)
    return (f"sim {row['sim']}: {full} ({sampling.derived_key(config['cosmology'])} "
            f"derived by CLASS)")
