"""ICs stage: one MUSIC .conf and one ics.hdf5 per simulation (builtin generator or real MUSIC).

Inputs: the simulation's complete cosmologies.csv row (its cosmology.json), the config (sections ``cosmology``, ``power``,
``ics``) and its power table. Outputs (all written atomically):
- ``music.conf``: generated (unigrid, box, z_start, seed, cosmology, transfer, generic format),
  or the user's ``<ics.conf_dir>/<sim>.conf`` verbatim when it exists;
- ``transfer_camb.txt``: the power table's P(k) as a CAMB-format transfer table, which the .conf
  names (``transfer = camb_file``) when ``power.transfer = class``;
- ``ics.hdf5``: MUSIC generic layout + ``/lpt`` (see ``pycola_wrapper.ics``).
"""
from __future__ import annotations

from pathlib import Path

from pycola_wrapper import music_conf as mc
from pycola_wrapper.ics import table_matches, write_builtin
from pycola_wrapper.music import run_music
from pycola_wrapper.power import PowerTable

from . import sampling
from .io import atomic_path
from .power import cosmology_from_row

TRANSFER_FILE = "transfer_camb.txt"  # written next to music.conf; the .conf names it relatively


def user_conf_path(sim: str, config: dict) -> Path | None:
    """``<ics.conf_dir>/<sim>.conf`` when ics.conf_dir is set and that file exists, else None."""
    conf_dir = config["ics"].get("conf_dir")
    if not conf_dir:
        return None
    path = Path(conf_dir) / f"{sim}.conf"
    return path if path.is_file() else None


def conf_text(row: dict, config: dict) -> str:
    """The MUSIC .conf text of one simulation (Omega_L = 1 - Omega_m, flat).

    MUSIC normalises to ``sigma_8`` (it has no A_s key): with A_s the config's amplitude, the
    .conf gets the sigma_8 CLASS derived from the row's A_s (``power.complete_row``), and a
    comment line records A_s.
    """
    cosmo = cosmology_from_row(row, config["cosmology"])
    transfer = config["power"]["transfer"]
    amplitude = sampling.amplitude_key(config["cosmology"])
    derived = (f"\nsigma_8 derived by CLASS from A_s = {float(row['A_s'])!r}" if amplitude == "A_s"
               else f"\nA_s (derived by CLASS, not used by MUSIC) = {float(row['A_s'])!r}"
               if row.get("A_s") is not None else "")
    return mc.make_conf(box=float(row["box"]), n=int(row["n_particles"]), z_start=float(config["ics"]["z_start"]),
                        seed=int(row["seed"]), cosmo=cosmo,
                        transfer="camb_file" if transfer == "class" else "eisenstein",
                        transfer_file=TRANSFER_FILE if transfer == "class" else None,
                        use_2LPT=bool(config["ics"]["use_2LPT"]), w0=float(config["cosmology"]["w0"]),
                        comment=f"CosmoFlow simulation {row['sim']} (written by the ics stage; "
                                f"power.transfer = {transfer}){derived}")


def user_conf_text(path: Path) -> str:
    """A user's .conf as our music.conf: verbatim, a relative transfer_file made absolute."""
    conf = mc.read_conf(path)
    p = mc.ics_params(conf)  # validates (unigrid, keys present) with errors naming the user's file
    if p.transfer == "camb_file":
        conf = conf.with_value("cosmology", "transfer_file", p.transfer_file)
    return f"# from {path.resolve()}\n" + conf.text


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def run(row: dict, config: dict, power_path: str | Path, conf_out: str | Path, transfer_out: str | Path,
        ics_out: str | Path, log=None) -> dict:
    """ICs of one simulation: write transfer table, .conf and ics.hdf5; return the ics attributes."""
    if Path(transfer_out).resolve() != Path(conf_out).resolve().parent / TRANSFER_FILE:
        raise ValueError(f"{transfer_out}: expected {Path(conf_out).parent / TRANSFER_FILE} (the .conf names "
                         f"{TRANSFER_FILE} next to itself)")
    user = user_conf_path(str(row["sim"]), config)
    text = user_conf_text(user) if user else conf_text(row, config)  # a bad user .conf fails first
    table = PowerTable.load(power_path)
    write_text(transfer_out, mc.camb_transfer_text(table.k, table.pk, float(row["n_s"])))
    write_text(conf_out, text)
    conf = mc.read_conf(conf_out)
    if not user and not table_matches(table, mc.ics_params(conf)):
        raise ValueError(f"{power_path}: the power table does not describe {conf_out} (cosmology, "
                         f"sigma_8 or transfer differ): the ICs would be renormalised; rerun the "
                         f"power stage for sim {row['sim']}")
    ics_cfg = config["ics"]
    if ics_cfg["generator"] == "music":
        return run_music(conf, ics_out, binary=ics_cfg.get("music_binary"), threads=int(ics_cfg["threads"]), log=log)
    return write_builtin(conf, ics_out, table=table, workers=int(ics_cfg["threads"]), log=log)
