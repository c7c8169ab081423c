"""Power stage: linear P(k, z=0) per simulation from CLASS (classy) or EH98, plus growth tables.

Units: k [h/Mpc], P [(Mpc/h)^3]. The growth tables are the matter + Lambda D1(a), f(a) of
``pycola_wrapper.cosmology`` (what MUSIC and COLA use), not CLASS's own (radiation, baryons).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pycola_wrapper import cosmology as cosmo_mod
from pycola_wrapper.cosmology import Cosmology
from pycola_wrapper.power import PowerTable, eisenstein_hu_pk, sigma_R

from .io import atomic_path

TRANSFERS = ("class", "eisenstein")


def k_max_for(box: float, n_mesh: int, margin: float = 1.1) -> float:
    """Largest k [h/Mpc] a mesh of n_mesh^3 cells in a box [Mpc/h] reaches: sqrt(3) k_Nyquist."""
    return margin * math.sqrt(3.0) * math.pi * n_mesh / box


def class_pk(k, cosmo: Cosmology):
    """Linear total-matter P(k, z=0) [(Mpc/h)^3] from CLASS at k [h/Mpc], sigma_8 as input."""
    from classy import Class

    k = np.asarray(k, dtype=np.float64)
    params = {
        "output": "mPk",
        "P_k_max_h/Mpc": float(k.max()) * 1.05,
        "z_max_pk": 0.0,
        "h": cosmo.h,
        "Omega_b": cosmo.Omega_b,
        "Omega_cdm": cosmo.Omega_m - cosmo.Omega_b,
        "n_s": cosmo.n_s,
        "sigma8": cosmo.sigma_8,
        "T_cmb": cosmo.T_cmb,
    }
    engine = Class()
    engine.set(params)
    try:
        engine.compute()
        h = cosmo.h
        return np.array([engine.pk_lin(kk * h, 0.0) for kk in k]) * h**3
    finally:
        engine.struct_cleanup()
        engine.empty()


def make_table(cosmo: Cosmology, transfer: str, k_min: float, k_max: float, n_k: int,
               a_min: float, n_a: int) -> PowerTable:
    """Tabulate P_lin(k, z=0) on n_k log-spaced k in [k_min, k_max] [h/Mpc] and D1, f on n_a
    log-spaced a in [a_min, 1]."""
    if transfer not in TRANSFERS:
        raise ValueError(f"power.transfer = {transfer!r}: expected one of {TRANSFERS}")
    if not 0 < k_min < k_max:
        raise ValueError(f"k range [{k_min}, {k_max}] h/Mpc: expected 0 < k_min < k_max")
    k = np.logspace(np.log10(k_min), np.log10(k_max), n_k)
    pk = class_pk(k, cosmo) if transfer == "class" else eisenstein_hu_pk(k, cosmo)
    a = np.logspace(np.log10(a_min), 0.0, n_a)
    attrs = dict(cosmo.as_dict(), transfer=transfer, k_min=k_min, k_max=k_max,
                 sigma8_table=sigma_R(k, pk, 8.0), growth="matter+Lambda (Heath integral)",
                 pk_units="(Mpc/h)^3", k_units="h/Mpc")
    return PowerTable(k=k, pk=pk, a=a, D1=cosmo_mod.growth_D1(a, cosmo),
                      f=cosmo_mod.growth_f(a, cosmo), attrs=attrs)


def cosmology_from_row(row: dict, cfg_cosmology: dict) -> Cosmology:
    """Build the Cosmology of one cosmologies.csv row (Omega_b, T_cmb from the config)."""
    return Cosmology(Omega_m=float(row["Omega_m"]), sigma_8=float(row["sigma_8"]),
                     n_s=float(row["n_s"]), H0=float(row["H0"]),
                     Omega_b=float(cfg_cosmology["Omega_b"]), T_cmb=float(cfg_cosmology["T_cmb"]))


def run(row: dict, config: dict, out: str | Path) -> PowerTable:
    """Power stage for one simulation row: compute the table and write it atomically."""
    cosmo = cosmology_from_row(row, config["cosmology"])
    pcfg = config["power"]
    gridscale = int(config.get("cola", {}).get("gridscale", 1))
    k_max = k_max_for(float(row["box"]), int(row["n_particles"]) * gridscale)
    table = make_table(cosmo, pcfg["transfer"], pcfg["k_min"], k_max, pcfg["n_k"],
                       pcfg["a_min"], pcfg["n_a"])
    table.attrs["sim"] = str(row["sim"])
    with atomic_path(out) as tmp:
        table.save(tmp)
    return table
