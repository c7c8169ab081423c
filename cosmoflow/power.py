"""Power stage: linear P(k, z=0) per simulation from CLASS (classy) or EH98, plus growth tables.

Units: k [h/Mpc], P [(Mpc/h)^3]. The growth tables are the matter + Lambda D1(a), f(a) of
``pycola_wrapper.cosmology`` (what MUSIC and COLA use), not CLASS's own (radiation, baryons).
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from pycola_wrapper import cosmology as cosmo_mod
from pycola_wrapper.cosmology import Cosmology
from pycola_wrapper.power import PowerTable, eisenstein_hu_pk, sigma_R

from . import sampling
from .io import atomic_path

TRANSFERS = ("class", "eisenstein")


def k_max_for(box: float, n_mesh: int, margin: float = 1.1) -> float:
    """Largest k [h/Mpc] a mesh of n_mesh^3 cells in a box [Mpc/h] reaches: sqrt(3) k_Nyquist."""
    return margin * math.sqrt(3.0) * math.pi * n_mesh / box


#: P_k_max [h/Mpc] of the CLASS runs that derive an amplitude (`complete_row`) and of the power
#: stage's A_s runs: CLASS's sigma_8 integral stops there. Converged to ~1e-6 at 10 h/Mpc
#: (Omega_m 0.3, h 0.703, measured with classy 3.4: sigma8 0.7992936 at 1, 0.7999904 at 3.15,
#: 0.8000009 at 10 h/Mpc for the A_s that CLASS's own sigma8 = 0.8 shooting returns).
SIGMA8_K_MAX = 10.0


def class_params(cosmo: Cosmology | dict, p_k_max: float, A_s: float | None = None,
                 precision: Mapping | None = None) -> dict:
    """CLASS (classy) input of a flat LCDM cosmology: linear matter P(k) at z = 0 up to p_k_max.

    cosmo : a Cosmology, or a dict with Omega_m, Omega_b, h, n_s, T_cmb (and sigma_8 unless A_s).
    p_k_max : largest k [h/Mpc] CLASS computes (its sigma_8 integral stops there too).
    A_s : primordial amplitude at CLASS's pivot 0.05 1/Mpc; None: normalise to sigma8 = cosmo's
        sigma_8 instead (CLASS then shoots for A_s).
    precision : extra CLASS precision parameters (config ``power.class_precision``); None or {}:
        CLASS's defaults, the exact input of before the option.
    """
    c = cosmo.as_dict() | {"h": cosmo.h} if isinstance(cosmo, Cosmology) else dict(cosmo)
    amplitude = {"sigma8": float(c["sigma_8"])} if A_s is None else {}
    params = {
        "output": "mPk",
        "P_k_max_h/Mpc": float(p_k_max),
        "z_max_pk": 0.0,
        "h": float(c["h"]),
        "Omega_b": float(c["Omega_b"]),
        "Omega_cdm": float(c["Omega_m"]) - float(c["Omega_b"]),
        "n_s": float(c["n_s"]),
        **amplitude,
        "T_cmb": float(c["T_cmb"]),
    }
    if A_s is not None:
        params["A_s"] = float(A_s)
    params.update(precision or {})
    return params


def run_class(params: dict, read):
    """Run CLASS on ``params`` and return ``read(engine)``; CLASS's memory is freed after."""
    from classy import Class

    engine = Class()
    engine.set(params)
    try:
        engine.compute()
        return read(engine)
    finally:
        engine.struct_cleanup()
        engine.empty()


def class_linear(k, cosmo: Cosmology, A_s: float | None = None, *, p_k_max: float | None = None,
                 precision: Mapping | None = None) -> tuple[np.ndarray, dict]:
    """Linear total-matter P(k, z=0) [(Mpc/h)^3] at k [h/Mpc] from CLASS, and CLASS's amplitudes.

    A_s None: sigma8 = cosmo.sigma_8 is CLASS's input (CLASS shoots for A_s: two runs). A_s given:
    A_s is the input (one run). p_k_max : CLASS's P_k_max [h/Mpc]; None: 1.05 max(k), and at
    least SIGMA8_K_MAX when A_s is given (so the returned sigma_8 is the one `complete_row`
    derives). precision : extra CLASS precision parameters (``class_params``). Returns
    (pk, {derived name: value}): CLASS's A_s (sigma_8 input) or CLASS's sigma_8, whose integral
    stops at p_k_max (A_s input).
    """
    k = np.asarray(k, dtype=np.float64)
    if p_k_max is None:
        p_k_max = float(k.max()) * 1.05
        if A_s is not None:
            p_k_max = max(p_k_max, SIGMA8_K_MAX)
    h = cosmo.h

    def read(engine):
        pk = np.array([engine.pk_lin(kk * h, 0.0) for kk in k]) * h**3
        if A_s is None:   # sigma8 is not asked for: P_k_max may be below what it needs
            return pk, {"A_s": float(engine.get_current_derived_parameters(["A_s"])["A_s"])}
        return pk, {"sigma_8": float(engine.sigma8())}

    return run_class(class_params(cosmo, p_k_max, A_s, precision), read)


def class_pk(k, cosmo: Cosmology, A_s: float | None = None):
    """Linear total-matter P(k, z=0) [(Mpc/h)^3] from CLASS at k [h/Mpc]; sigma_8 (or A_s) as input."""
    return class_linear(k, cosmo, A_s)[0]


#: CLASS precision parameters measured to keep P(k) within 0.1 % of CLASS's defaults up to the
#: k_max of 128^3 and 256^3 meshes in 256 Mpc/h, at a lower cost (benchmarks/bench_class.py;
#: docs/pipeline.md, "CLASS cost"): a value for the config's ``power.class_precision``.
FAST_CLASS_PRECISION = {"tol_perturbations_integration": 1.0e-4,
                        "tight_coupling_trigger_tau_c_over_tau_h": 0.03,
                        "tight_coupling_trigger_tau_c_over_tau_k": 0.02}


#: CLASS's own sigma8 -> A_s shooting (classy 3.4.1, source/input.c, "special shooting just for
#: sigma8"): ONE run from the guess A_s = sigma8 2.43e-9 / 0.87659 with P(k) up to
#: k_max = min(max(10, P_k_max), 100) 1/Mpc (k_max_for_pk_sigma8_min / _max) and a coarser
#: recombination table (thermo_Nz_lin, thermo_Nz_log below), then A_s = (sigma8 / sigma8_guess)^2
#: A_s_guess (linear P(k) is proportional to A_s). classy then runs CLASS a second time, from that
#: A_s at the asked P_k_max; `shoot_A_s` makes the first run alone and returns the same double
#: (tests/test_power.py; docs/pipeline.md, "CLASS cost").
SHOOTING_K_MAX_MPC = (10.0, 100.0)
SHOOTING_THERMO = {"thermo_Nz_lin": 10000, "thermo_Nz_log": 500}


def shoot_A_s(cosmo: Cosmology | dict, sigma_8: float, p_k_max: float = SIGMA8_K_MAX,
              precision: Mapping | None = None) -> float:
    """A_s [pivot 0.05 1/Mpc] whose CLASS sigma8 is ``sigma_8``, by CLASS's own shooting in one
    CLASS run: bit for bit the A_s a classy run with ``sigma8`` as input and P_k_max = p_k_max
    [h/Mpc] derives (that run costs a second CLASS run from the result).

    cosmo : as for ``class_params`` (its sigma_8, if any, is not used). precision : extra CLASS
    precision parameters; CLASS's shooting overrides their thermo_Nz_lin / thermo_Nz_log.
    """
    h = cosmo.h if isinstance(cosmo, Cosmology) else float(cosmo["h"])
    lo, hi = SHOOTING_K_MAX_MPC
    guess = sigma_8 * 2.43e-9 / 0.87659      # input.c's order of operations: same double
    params = class_params(cosmo, p_k_max, A_s=guess, precision=precision)
    del params["P_k_max_h/Mpc"]
    params["P_k_max_1/Mpc"] = min(max(lo, p_k_max * h), hi)
    params.update(SHOOTING_THERMO)
    sigma8_guess = run_class(params, lambda e: e.sigma8())
    return (sigma_8 / sigma8_guess) * (sigma_8 / sigma8_guess) * guess


def complete_row(row: dict, cfg_cosmology: dict, precision: Mapping | None = None) -> dict:
    """A drawn row with its derived amplitude filled in by CLASS (rule `cosmology`).

    The config gives sigma_8 or A_s (``sampling.amplitude_key``); CLASS computes the other for the
    row's Omega_m, Omega_b, h, n_s (T_cmb from the config), with P_k_max = SIGMA8_K_MAX:
    sigma8 input -> CLASS's A_s (its shooting, one run: `shoot_A_s`); A_s input -> CLASS's
    sigma8. Whatever power.transfer is: with ``eisenstein`` the EH98 table is then normalised to
    this sigma_8. precision : the config's ``power.class_precision`` (None: CLASS's defaults).
    """
    given, derived = sampling.amplitude_key(cfg_cosmology), sampling.derived_key(cfg_cosmology)
    c = {"Omega_m": row["Omega_m"], "Omega_b": row["Omega_b"], "n_s": row["n_s"],
         "h": float(row["H0"]) / 100.0,          # as Cosmology.h: the power stage's CLASS input
         "T_cmb": cfg_cosmology["T_cmb"]}
    if given == "sigma_8":
        value = shoot_A_s(c, float(row["sigma_8"]), SIGMA8_K_MAX, precision)
    else:
        params = class_params(c, SIGMA8_K_MAX, A_s=row["A_s"], precision=precision)
        value = run_class(params, lambda e: e.sigma8())
    return sampling.with_derived(row, {derived: float(value)})


#: Relative agreement required between the amplitude a power-stage CLASS run returns and the
#: row's (complete_row used the same CLASS inputs but P_k_max; measured differences ~1e-7).
AMPLITUDE_RTOL = 1e-5
#: sigma_8 amplitude, tables from P_k_max >= SIGMA8_CHECK_K_MIN [h/Mpc]: CLASS runs from the
#: row's A_s (one run instead of the sigma8 shooting's two; the same table bit for bit) and its
#: sigma8, an integral stopped at P_k_max, must be the row's to TRUNCATED_SIGMA8_RTOL (the
#: truncation measured with classy 3.4.1 over the prior's corners: <= 7.6e-5 at 2 h/Mpc,
#: <= 1.7e-5 at 3.14, <= 2.1e-6 at 6.28). Below it the table keeps CLASS's shooting.
SIGMA8_CHECK_K_MIN = 2.0
TRUNCATED_SIGMA8_RTOL = 2e-4


def make_table(cosmo: Cosmology, transfer: str, k_min: float, k_max: float, n_k: int,
               a_min: float, n_a: int, *, A_s: float | None = None,
               amplitude: str = "sigma_8", precision: Mapping | None = None) -> PowerTable:
    """Tabulate P_lin(k, z=0) on n_k log-spaced k in [k_min, k_max] [h/Mpc] and D1, f on n_a
    log-spaced a in [a_min, 1].

    amplitude : the config's amplitude parameter. "sigma_8": CLASS normalised to cosmo.sigma_8:
        with A_s given (the row's, CLASS's for that sigma_8) and P_k_max = 1.05 k_max >=
        SIGMA8_CHECK_K_MIN, one CLASS run from A_s whose sigma8 must be cosmo.sigma_8 to
        TRUNCATED_SIGMA8_RTOL (the same table as a sigma8 input, bit for bit); else CLASS's sigma8
        shooting, whose A_s must be the given one to AMPLITUDE_RTOL. "A_s": CLASS run from ``A_s``
        [dimensionless, pivot 0.05 1/Mpc]; the sigma_8 it returns must equal cosmo.sigma_8 (the
        row's, derived by `complete_row`) to AMPLITUDE_RTOL, so the table, the .conf and the labels
        describe one cosmology. EH98 (transfer "eisenstein") is normalised to cosmo.sigma_8 in both
        cases (with A_s: the sigma_8 CLASS derived from it).
    precision : extra CLASS precision parameters (config ``power.class_precision``).
    attrs : the cosmology, A_s (when known), amplitude, transfer, k range, sigma8_table (the
        top-hat integral of this table, 8 Mpc/h), units, class_precision (JSON, when set).
    """
    if transfer not in TRANSFERS:
        raise ValueError(f"power.transfer = {transfer!r}: expected one of {TRANSFERS}")
    if amplitude not in sampling.AMPLITUDES:
        raise ValueError(f"amplitude = {amplitude!r}: expected one of {sampling.AMPLITUDES}")
    if amplitude == "A_s" and A_s is None:
        raise ValueError("amplitude A_s needs the A_s value")
    if not 0 < k_min < k_max:
        raise ValueError(f"k range [{k_min}, {k_max}] h/Mpc: expected 0 < k_min < k_max")
    k = np.logspace(np.log10(k_min), np.log10(k_max), n_k)
    if transfer == "class":
        p_k_max = float(k.max()) * 1.05
        if amplitude == "A_s":
            p_k_max = max(p_k_max, SIGMA8_K_MAX)   # its sigma_8 is complete_row's
        from_A_s = A_s is not None and (amplitude == "A_s" or p_k_max >= SIGMA8_CHECK_K_MIN)
        pk, got = class_linear(k, cosmo, A_s if from_A_s else None, p_k_max=p_k_max,
                               precision=precision)
        # the amplitude CLASS derived in this run must be the row's (complete_row's)
        if from_A_s:
            name, want = "sigma_8", cosmo.sigma_8
            rtol = AMPLITUDE_RTOL if p_k_max >= SIGMA8_K_MAX else TRUNCATED_SIGMA8_RTOL
        else:
            name, want, rtol = "A_s", A_s, AMPLITUDE_RTOL
        if want is not None and abs(got[name] / want - 1.0) > rtol:
            raise ValueError(f"CLASS returns {name} = {got[name]!r} for this cosmology, the row says "
                             f"{want!r} (relative tolerance {rtol}): the row's derived "
                             f"amplitude is not this cosmology's; rerun the `cosmology` rule")
    else:
        pk = eisenstein_hu_pk(k, cosmo)
    a = np.logspace(np.log10(a_min), 0.0, n_a)
    attrs = dict(cosmo.as_dict(), amplitude=amplitude, transfer=transfer, k_min=k_min, k_max=k_max,
                 sigma8_table=sigma_R(k, pk, 8.0), growth="matter+Lambda (Heath integral)",
                 pk_units="(Mpc/h)^3", k_units="h/Mpc")
    if A_s is not None:
        attrs["A_s"] = float(A_s)
    if precision:
        attrs["class_precision"] = json.dumps(dict(precision), sort_keys=True)
    return PowerTable(k=k, pk=pk, a=a, D1=cosmo_mod.growth_D1(a, cosmo),
                      f=cosmo_mod.growth_f(a, cosmo), attrs=attrs)


def cosmology_from_row(row: dict, cfg_cosmology: dict) -> Cosmology:
    """Build the Cosmology of one cosmologies.csv row (T_cmb from the config).

    sigma_8 is the row's: drawn, or derived by CLASS from A_s (`complete_row`): a drawn row of
    an A_s config (sigma_8 None) must go through `complete_row` first.
    """
    if row.get("sigma_8") is None:
        raise ValueError(f"sim {row.get('sim')}: sigma_8 is not known yet (A_s is the drawn "
                         f"amplitude): complete the row with cosmoflow.power.complete_row first")
    return Cosmology(Omega_m=float(row["Omega_m"]), sigma_8=float(row["sigma_8"]),
                     n_s=float(row["n_s"]), H0=float(row["H0"]),
                     Omega_b=float(row["Omega_b"]), T_cmb=float(cfg_cosmology["T_cmb"]))


def run(row: dict, config: dict, out: str | Path) -> PowerTable:
    """Power stage for one complete simulation row (cosmology.json): compute the table and
    write it atomically."""
    cosmo = cosmology_from_row(row, config["cosmology"])
    pcfg = config["power"]
    gridscale = int(config.get("cola", {}).get("gridscale", 1))
    k_max = k_max_for(float(row["box"]), int(row["n_particles"]) * gridscale)
    table = make_table(cosmo, pcfg["transfer"], pcfg["k_min"], k_max, pcfg["n_k"],
                       pcfg["a_min"], pcfg["n_a"], A_s=float(row["A_s"]),
                       amplitude=sampling.amplitude_key(config["cosmology"]),
                       precision=pcfg.get("class_precision"))
    table.attrs["sim"] = str(row["sim"])
    with atomic_path(out) as tmp:
        table.save(tmp)
    return table
