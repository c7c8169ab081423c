"""Sampling stage: one flat-LCDM cosmology, seed and split per simulation.

Row i depends only on (master seed, i): drawn from ``SeedSequence(seed, spawn_key=(i,))``, so
growing ``n_sims`` keeps every existing row (and every existing simulation) identical.
Splits: the first ``n_val`` simulations are validation, the next ``n_test`` test, the next
``n_cal`` calibration (the split a gaussian head's widths are calibrated on, apart from the
validation split that selects the epoch; 0: none, validation calibrates), the rest training;
parameters are i.i.d., so this index split is an unbiased random split. With ``n_cal`` 0 the
splits are those of the configs written before it.

Parameterisation (config ``cosmology``): the five parameters of `SLOTS` (Omega_m; the amplitude,
sigma_8 or A_s; n_s; the expansion rate, H0 or h; Omega_b) are each either varied, a
``[low, high)`` uniform prior, or fixed, a number. The varied ones are the labels, in slot order.
The amplitude not given (A_s when sigma_8 is given and the reverse) is derived by CLASS per
simulation (``cosmoflow.power.complete_row``): the rows drawn here hold ``None`` for it, the
cosmology.json / cosmologies.csv rows hold both. The legacy ``vary_H0: true`` means
``H0: <H0_range>``.

Draw stream: simulation i draws one uniform double per slot, in slot order, whether the slot is
varied or fixed (a fixed slot draws and discards it). So fixing or varying one parameter does not
change the values drawn for the others, and the configs written before the parameterisation
(Omega_m, sigma_8, n_s ranges; H0 fixed or drawn from H0_range) draw the same values bit for bit
(tests/data/sampling_reference.json).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .io import atomic_path

#: Parameter slots in their fixed order: draw i of a simulation's stream and, when varied, the
#: label order. A slot with two names takes exactly one of them from the config.
SLOTS: tuple[tuple[str, ...], ...] = (("Omega_m",), ("sigma_8", "A_s"), ("n_s",), ("H0", "h"), ("Omega_b",))
AMPLITUDES = ("sigma_8", "A_s")

COLUMNS = ("sim", "seed", "split", "Omega_m", "Omega_L", "Omega_b", "sigma_8", "A_s", "n_s", "H0",
           "h", "box", "n_particles")
FLOAT_COLUMNS = ("Omega_m", "Omega_L", "Omega_b", "sigma_8", "A_s", "n_s", "H0", "h", "box")
INT_COLUMNS = ("seed", "n_particles")
SPLITS = ("train", "val", "test", "cal")


def sim_id(i: int) -> str:
    """Zero-padded simulation id used in every path, e.g. 7 -> '00007'."""
    return f"{i:05d}"


def split_of(i: int, n_val: int, n_test: int, n_cal: int = 0) -> str:
    """Split of simulation index i: val for i < n_val, test for the next n_test, cal for the
    next n_cal, else train."""
    if i < n_val:
        return "val"
    if i < n_val + n_test:
        return "test"
    if i < n_val + n_test + n_cal:
        return "cal"
    return "train"


def _is_range(value) -> bool:
    return isinstance(value, (list, tuple))


def spec_errors(cosmology: dict) -> list[str]:
    """'cosmology.key: what is wrong' lines of the parameterisation (empty when valid).

    Checks what the schema cannot: exactly one of sigma_8 / A_s and of H0 / h, ranges with
    low < high, the legacy vary_H0 only with a fixed H0, at least one varied parameter.
    """
    errs = []
    for names in SLOTS[1], SLOTS[3]:
        given = [n for n in names if cosmology.get(n) is not None]
        a, b = names
        if len(given) == 2:
            errs.append(f"cosmology.{b}: got both {a} = {cosmology[a]!r} and {b} = {cosmology[b]!r}, "
                        f"expected one of them (set the other to null"
                        + ("; the other amplitude is derived by CLASS per simulation)" if a == "sigma_8" else ")"))
        elif not given:
            errs.append(f"cosmology.{a}: neither {a} nor {b} is given, expected one of them "
                        f"(a number: fixed, [low, high): varied)")
    for name in (n for slot in SLOTS for n in slot):
        value = cosmology.get(name)
        if _is_range(value):
            if len(value) != 2 or not value[0] < value[1]:
                errs.append(f"cosmology.{name}: got {list(value)}, expected low < high")
    if cosmology.get("vary_H0", False):
        if cosmology.get("h") is not None:
            errs.append(f"cosmology.vary_H0: true with h given; vary_H0 draws H0 from H0_range "
                        f"(write h: [low, high) instead and drop vary_H0)")
        elif _is_range(cosmology.get("H0")):
            errs.append(f"cosmology.vary_H0: true with H0 = {cosmology['H0']!r} a range: give one "
                        f"of them (H0: [low, high) alone, or H0 fixed + vary_H0 + H0_range)")
        rng = cosmology.get("H0_range")
        if not (_is_range(rng) and len(rng) == 2 and rng[0] < rng[1]):
            errs.append(f"cosmology.H0_range: got {rng!r}, expected [low, high) with low < high")
    if not errs and not varied(cosmology):
        errs.append("cosmology: no parameter is varied (every one is a number), expected at least "
                    "one [low, high) range: the varied parameters are the labels")
    return errs


def parameter_spec(cosmology: dict) -> dict[str, float | tuple[float, float]]:
    """One entry per slot, in slot order: name -> fixed value, or (low, high) when varied.

    The legacy ``vary_H0: true`` gives ``H0: tuple(H0_range)``. Raises ValueError listing
    `spec_errors` when the section is inconsistent.
    """
    errs = spec_errors(cosmology)
    if errs:
        raise ValueError("; ".join(errs))
    return _spec(cosmology)


def _spec(cosmology: dict) -> dict:
    out = {}
    for names in SLOTS:
        name = next(n for n in names if cosmology.get(n) is not None) if len(names) > 1 else names[0]
        value = cosmology.get(name)
        if name == "H0" and cosmology.get("vary_H0", False):
            value = cosmology["H0_range"]
        out[name] = (float(value[0]), float(value[1])) if _is_range(value) else float(value)
    return out


def varied(cosmology: dict) -> dict[str, tuple[float, float]]:
    """The varied parameters (the labels), in slot order: name -> (low, high).

    Default config: Omega_m, sigma_8, n_s; with the legacy vary_H0: ..., H0 last (as before).
    """
    try:
        spec = _spec(cosmology)
    except (StopIteration, TypeError, KeyError, IndexError) as err:
        raise ValueError(f"cosmology section {cosmology!r}: cannot tell the varied parameters "
                         f"({'; '.join(spec_errors(cosmology)) or err})") from None
    return {name: v for name, v in spec.items() if isinstance(v, tuple)}


def amplitude_key(cosmology: dict) -> str:
    """The amplitude the config gives ('sigma_8' or 'A_s'); the other is derived by CLASS."""
    given = [n for n in AMPLITUDES if cosmology.get(n) is not None]
    if len(given) != 1:
        raise ValueError(f"cosmology: expected exactly one of {AMPLITUDES}, got {given or 'none'}")
    return given[0]


def derived_key(cosmology: dict) -> str:
    """The amplitude CLASS derives per simulation (the one `amplitude_key` is not)."""
    return AMPLITUDES[1 - AMPLITUDES.index(amplitude_key(cosmology))]


def draw_row(i: int, config: dict) -> dict:
    """Cosmology, seed and split of simulation i (a pure function of the config and i).

    The derived amplitude (`derived_key`) is None here: `cosmoflow.power.complete_row` fills it.
    H0 [km/s/Mpc] and h = H0 / 100 are both recorded. When the expansion rate is varied, the box
    [Mpc/h] scales with h / (middle of its range): the same physical volume for every simulation.
    """
    cos = config["cosmology"]
    spec = parameter_spec(cos)
    rng = np.random.default_rng(np.random.SeedSequence(config["seed"], spawn_key=(i, 0)))
    vals = {}
    for name, v in spec.items():        # one double per slot, varied or not (module docstring)
        if isinstance(v, tuple):
            vals[name] = rng.uniform(*v)
        else:
            rng.random()
            vals[name] = v
    seed = int(np.random.SeedSequence(config["seed"], spawn_key=(i, 1)).generate_state(1)[0])
    box = float(config["simulation"]["box"])
    hub = "H0" if "H0" in spec else "h"
    if isinstance(spec[hub], tuple):
        box *= vals[hub] / (0.5 * sum(spec[hub]))  # box scales with 1/h: same physical volume
    H0, h = (vals["H0"], vals["H0"] / 100.0) if hub == "H0" else (100.0 * vals["h"], vals["h"])
    amp = amplitude_key(cos)
    sims = config["sims"]
    om = vals["Omega_m"]
    return {"sim": sim_id(i), "seed": seed, "split": split_of(i, sims["n_val"], sims["n_test"], sims.get("n_cal", 0)),
            "Omega_m": om, "Omega_L": 1.0 - om, "Omega_b": vals["Omega_b"],
            "sigma_8": vals.get("sigma_8") if amp == "sigma_8" else None,
            "A_s": vals.get("A_s") if amp == "A_s" else None,
            "n_s": vals["n_s"], "H0": H0, "h": h, "box": box,
            "n_particles": int(config["simulation"]["n_particles"])}


def with_derived(row: dict, derived: dict) -> dict:
    """A copy of a drawn row with its derived amplitude filled in (``derived``: name -> value).

    Only None entries may be filled; a drawn value must not be overwritten.
    """
    out = dict(row)
    for name, value in derived.items():
        if name not in COLUMNS:
            raise KeyError(f"sim {row.get('sim')}: {name!r} is not a cosmologies.csv column")
        if out.get(name) is not None and float(out[name]) != float(value):
            raise ValueError(f"sim {row.get('sim')}: {name} = {out[name]!r} is drawn; refusing to "
                             f"overwrite it with {value!r}")
        out[name] = float(value)
    return out


def sample(config: dict) -> list[dict]:
    """All simulation rows for the config (n_sims of them)."""
    return [draw_row(i, config) for i in range(config["sims"]["n_sims"])]


def write_table(rows: list[dict], path: str | Path) -> None:
    """Write rows as CSV (floats with 17 significant digits: lossless round trip), atomically.

    Rows must be complete (`check_complete`): the table holds both amplitudes.
    """
    for row in rows:
        check_complete(row, str(path))
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
        raise ValueError(f"{path}: missing key(s) {missing}; expected {list(COLUMNS)} (written "
                         f"by an older version? rerun the `cosmology` rule)")
    check_complete(row, str(path))
    return row


def check_complete(row: dict, where: str) -> None:
    """Raise ValueError naming ``where`` if a value (e.g. the derived amplitude) is missing."""
    empty = [k for k in COLUMNS if row.get(k) is None]
    if empty:
        raise ValueError(f"{where}: sim {row.get('sim')}: no value for {empty} (the derived "
                         f"amplitude is filled by cosmoflow.power.complete_row, rule `cosmology`)")
