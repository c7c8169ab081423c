"""Sampling stage: one flat-LCDM cosmology, seed and split per simulation.

Row i depends only on (master seed, i): drawn from ``SeedSequence(seed, spawn_key=(i,))``, so
growing ``n_sims`` keeps every existing row (and every existing simulation) identical.
Splits: the first ``n_val`` simulations are validation, the next ``n_test`` test, the rest
training; parameters are i.i.d., so this index split is an unbiased random split.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .io import atomic_path

COLUMNS = ("sim", "seed", "split", "Omega_m", "Omega_L", "Omega_b", "sigma_8", "n_s", "H0", "h",
           "box", "n_particles")
FLOAT_COLUMNS = ("Omega_m", "Omega_L", "Omega_b", "sigma_8", "n_s", "H0", "h", "box")
INT_COLUMNS = ("seed", "n_particles")
SPLITS = ("train", "val", "test")


def sim_id(i: int) -> str:
    """Zero-padded simulation id used in every path, e.g. 7 -> '00007'."""
    return f"{i:05d}"


def split_of(i: int, n_val: int, n_test: int) -> str:
    """Split of simulation index i: val for i < n_val, test for the next n_test, else train."""
    if i < n_val:
        return "val"
    if i < n_val + n_test:
        return "test"
    return "train"


def draw_row(i: int, config: dict) -> dict:
    """Cosmology, seed and split of simulation i (a pure function of the config and i)."""
    cos = config["cosmology"]
    rng = np.random.default_rng(np.random.SeedSequence(config["seed"], spawn_key=(i, 0)))
    om = rng.uniform(*cos["Omega_m"])
    s8 = rng.uniform(*cos["sigma_8"])
    ns = rng.uniform(*cos["n_s"])
    h0_draw = rng.uniform(*cos["H0_range"])  # always drawn: the stream does not depend on vary_H0
    seed = int(np.random.SeedSequence(config["seed"], spawn_key=(i, 1)).generate_state(1)[0])
    box = float(config["simulation"]["box"])
    if cos["vary_H0"]:
        H0 = h0_draw
        box *= H0 / (0.5 * sum(cos["H0_range"]))  # box scales with 1/h: same physical volume
    else:
        H0 = float(cos["H0"])
    sims = config["sims"]
    return {"sim": sim_id(i), "seed": seed, "split": split_of(i, sims["n_val"], sims["n_test"]),
            "Omega_m": om, "Omega_L": 1.0 - om, "Omega_b": float(cos["Omega_b"]),
            "sigma_8": s8, "n_s": ns, "H0": H0, "h": H0 / 100.0, "box": box,
            "n_particles": int(config["simulation"]["n_particles"])}


def sample(config: dict) -> list[dict]:
    """All simulation rows for the config (n_sims of them)."""
    return [draw_row(i, config) for i in range(config["sims"]["n_sims"])]


def write_table(rows: list[dict], path: str | Path) -> None:
    """Write rows as CSV (floats with 17 significant digits: lossless round trip), atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (repr(float(v)) if k in FLOAT_COLUMNS else v) for k, v in row.items()})


def read_table(path: str | Path) -> list[dict]:
    """Read cosmologies.csv back into typed rows; errors name the file, line and column."""
    path = Path(path)
    try:
        fh = open(path, newline="")
    except OSError as err:
        raise FileNotFoundError(f"{path}: cannot read the cosmology table ({err}); run the "
                                f"`cosmologies` stage first") from err
    with fh:
        reader = csv.DictReader(fh)
        missing = set(COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}; expected {list(COLUMNS)}")
        rows = []
        for line, raw in enumerate(reader, start=2):
            try:
                row = {k: raw[k] for k in COLUMNS}
                for k in FLOAT_COLUMNS:
                    row[k] = float(row[k])
                for k in INT_COLUMNS:
                    row[k] = int(row[k])
            except (TypeError, ValueError) as err:
                raise ValueError(f"{path}, line {line}: bad value ({err})") from err
            if row["split"] not in SPLITS:
                raise ValueError(f"{path}, line {line}: split {row['split']!r}, expected one of {SPLITS}")
            rows.append(row)
    return rows


def write_row(row: dict, path: str | Path) -> None:
    """Write one simulation's row as JSON (the per-simulation input of the later stages)."""
    import json

    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(row, indent=1) + "\n")


def read_row(path: str | Path) -> dict:
    """Read one simulation's cosmology.json; errors name the file and the missing keys."""
    import json

    path = Path(path)
    try:
        row = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read the simulation's cosmology ({err})") from err
    missing = [k for k in COLUMNS if k not in row]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing}; expected {list(COLUMNS)}")
    return row
