"""One COLA simulation of the pipeline: ics.hdf5 in, one snapshot_z{z:.2f}.hdf5 per redshift out.

I/O at the edges around ``cola.evolve`` (or the optional pycola3 engine): memory check before
anything is read, per-step progress lines, atomic snapshot writes (``pycola_wrapper.atomic.atomic_path``:
a killed run leaves ``.tmp-*`` files only, never a complete-looking snapshot).

Snapshot layout (the pipeline contract): dataset /positions float32 (N^3, 3) [Mpc/h] in
[0, box), particle order (i, j, k) row-major of the Lagrangian grid; root attributes sim,
Omega_m, Omega_L, sigma_8, n_s, H0, box, n_particles, z, a, n_steps, mesh, engine, version
(+ a_start, gridscale, n_lpt, seed, Omega_b, h, and A_s when the row has it).
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

from . import cola
from .atomic import atomic_path
from .cosmology import Cosmology

ENGINES = ("builtin", "pycola3")


def write_snapshot(path: str | os.PathLike, positions: np.ndarray, attrs: Mapping) -> None:
    """Write one snapshot atomically (temporary file in the same folder, then rename)."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("positions", data=positions, dtype=np.float32)
            for key, val in attrs.items():
                f.attrs[key] = val


def read_snapshot(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """(positions (N^3, 3) float32 [Mpc/h], attrs) of a snapshot; clear error if broken."""
    try:
        with h5py.File(path, "r") as f:
            if "positions" not in f:
                raise ValueError(f"{path}: no /positions dataset (not a COLA snapshot)")
            return f["positions"][...], dict(f.attrs)
    except OSError as err:
        raise ValueError(f"{path}: cannot read as an HDF5 snapshot: {err}") from err


def run(ics_path: str | os.PathLike, row: Mapping, cola_cfg: Mapping,
        outputs: Mapping[float, str | os.PathLike], log: Callable[[str], None] = print,
        read_lpt: Callable | None = None) -> None:
    """Evolve one simulation and write every snapshot.

    Parameters
    ----------
    ics_path : the simulation's ics.hdf5 (``/lpt/psi1_*``, ``/lpt/psi2_*``, D1 = 1 at z = 0).
    row : its cosmologies.csv row (sim, Omega_m, sigma_8, n_s, H0, Omega_b, box, n_particles, ...).
    cola_cfg : the config's ``cola`` section (engine, a_start, n_steps, gridscale, threads, ...).
    outputs : redshift z -> snapshot path.
    read_lpt : reader returning (psi1, psi2, attrs) (default ``pycola_wrapper.ics.read_lpt``).
    """
    engine = cola_cfg.get("engine", "builtin")
    if engine not in ENGINES:
        raise ValueError(f"cola.engine = {engine!r}: expected one of {ENGINES}")
    n, box = int(row["n_particles"]), float(row["box"])
    gridscale, n_steps = int(cola_cfg["gridscale"]), int(cola_cfg["n_steps"])
    a_start = float(cola_cfg["a_start"])
    threads = int(cola_cfg.get("threads", 1))
    by_a = {1.0 / (1.0 + float(z)): (float(z), Path(p)) for z, p in outputs.items()}
    est = cola.check_memory(n, gridscale)  # before anything is read: a clear error, not an OOM kill
    log(f"sim {row['sim']}: {n}^3 particles, box {box} Mpc/h, mesh {gridscale * n}^3, {n_steps} steps "
        f"from a = {a_start}, engine {engine}, {threads} threads; memory estimate "
        f"{est['total'] / 2**30:.2f} GiB")
    if read_lpt is None:
        from .ics import read_lpt
    t0 = time.perf_counter()
    psi1, psi2, ics_attrs = read_lpt(ics_path)
    if psi1.shape[1] != n or abs(float(ics_attrs.get("box", box)) - box) > 1e-6 * box:
        raise ValueError(f"{ics_path}: N = {psi1.shape[1]}, box = {ics_attrs.get('box')} but the "
                         f"cosmologies row of sim {row['sim']} says N = {n}, box = {box}")
    log(f"read {ics_path} in {time.perf_counter() - t0:.1f} s")
    cosmo = Cosmology(Omega_m=float(row["Omega_m"]), sigma_8=float(row["sigma_8"]),
                      n_s=float(row["n_s"]), H0=float(row["H0"]),
                      Omega_b=float(row.get("Omega_b", 0.045)))
    base = {"sim": str(row["sim"]), "Omega_m": cosmo.Omega_m, "Omega_L": cosmo.Omega_L,
            "sigma_8": cosmo.sigma_8, "n_s": cosmo.n_s, "H0": cosmo.H0, "box": box,
            "n_particles": n, "n_steps": n_steps, "mesh": gridscale * n, "gridscale": gridscale,
            "a_start": a_start, "n_lpt": cola.N_LPT, "seed": int(row.get("seed", 0)),
            "Omega_b": cosmo.Omega_b, "h": float(row.get("h", cosmo.h))}
    if row.get("A_s") is not None:  # any parameter may be a label (cosmoflow.sampling.SLOTS)
        base["A_s"] = float(row["A_s"])

    def save(a: float, positions: np.ndarray, engine_name: str, version: str) -> None:
        key = min(by_a, key=lambda x: abs(x - a))
        z, path = by_a[key]
        write_snapshot(path, positions, {**base, "z": z, "a": key, "engine": engine_name,
                                         "version": version})
        log(f"wrote {path} (z = {z:.2f}, a = {key:.4f})")

    if engine == "builtin":
        def progress(info: cola.StepInfo) -> None:
            t = info.times
            log(f"step {info.step:3d}/{info.n_steps}  a = {info.a:.4f}  elapsed {info.elapsed:7.1f} s  "
                f"RSS {info.rss / 2**30:.2f} GiB (peak {info.peak_rss / 2**30:.2f})  "
                f"deposit {t['deposit']:.1f} fft {t['fft']:.1f} grad+interp "
                f"{t['gradient_interpolation']:.1f} drift {t['drift']:.1f} s")

        cola.evolve(psi1, psi2, cosmo, box, a_start=a_start, n_steps=n_steps, gridscale=gridscale,
                    a_out=sorted(by_a), threads=threads, progress=progress,
                    on_output=lambda a, x: save(a, x, "builtin", cola.ENGINE_VERSION))
    else:
        from . import pycola3_engine as p3
        python = cola_cfg.get("pycola3_python") or p3.ensure_venv(log=log)
        snaps, info = p3.run_pycola3(psi1, psi2, cosmo.Omega_m, box, a_start=a_start,
                                     n_steps=n_steps, gridscale=gridscale, a_out=sorted(by_a),
                                     python=python, workdir=Path(next(iter(by_a.values()))[1]).parent,
                                     log=log)
        for a, x in snaps.items():
            save(a, x, "pycola3", p3.PYCOLA3_VERSION)
    log(f"done in {time.perf_counter() - t0:.1f} s, peak RSS {cola.rss_bytes()[1] / 2**30:.2f} GiB")


def outputs_for(redshifts: Sequence[float], folder: str | os.PathLike) -> dict[float, Path]:
    """z -> folder/snapshot_z{z:.2f}.hdf5 (the file names of the contract)."""
    return {float(z): Path(folder) / f"snapshot_z{float(z):.2f}.hdf5" for z in redshifts}
