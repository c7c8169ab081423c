"""Many simulations per process: cosmology -> power -> ICs -> COLA -> voxels for each simulation of a
batch, one simulation after the other, in one Python process (config ``sims.batch``).

The stages are the per-rule ones (``cosmoflow.sim_stages``, one module per stage) with the same
inputs, so every per-simulation file is what the one-job-per-stage path writes (benchmarks/bench_campaign.py
compares them); what a batch saves is the per-job cost: interpreter start-up, imports, numba's
compiled-code loading, Snakemake's scheduling of 4 + n_z jobs per simulation. Every output is
still written atomically, each simulation's stages log to the files the per-stage rules use,
and the first failure stops the batch naming the simulation, its stage and that stage's log.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cosmoflow.sim_stages import cola, cosmology, ics, power, voxels

@dataclass(frozen=True)
class SimPaths:
    """Every file one simulation's stages write, as the per-stage rules name them.

    ics : ics.hdf5, or None when the ICs are not kept (``ics.keep: false``): they are then
        written to a temporary file next to music.conf and removed once COLA has read them.
    snapshots, voxels : redshift -> path. logs : stage -> path, and ``("voxels", z)`` -> path.
    """
    cosmology: str
    power: str
    conf: str
    transfer: str
    ics: str | None
    snapshots: Mapping[float, str]
    voxels: Mapping[float, str]
    logs: Mapping


class BatchError(RuntimeError):
    """A stage of one simulation failed; the message names the simulation, stage and log."""


@contextlib.contextmanager
def stage_log(path: str | os.PathLike, sim: str, stage: str):
    """Open one stage's log; yield its line writer. Python's stderr (warnings) goes there too; an
    exception is written to the log with its traceback and re-raised as BatchError."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as fh:
        def say(line: str) -> None:
            print(line, file=fh, flush=True)

        try:
            with contextlib.redirect_stderr(fh):
                yield say
        except Exception as err:
            fh.write(traceback.format_exc())
            raise BatchError(f"sim {sim}: stage {stage} failed ({type(err).__name__}: {err}); "
                             f"log {path}") from err


def run_simulation(row: dict, config: dict, paths: SimPaths, threads: int) -> dict[str, float]:
    """All stages of one simulation; returns the wall time of each [s]."""
    sim = str(row["sim"])
    cfg = {**config, "ics": {**config["ics"], "threads": threads}}
    vox_cfg = config["voxels"]
    times = {}

    def timed(stage, fn):
        t0 = time.perf_counter()
        fn()
        times[stage] = time.perf_counter() - t0

    with stage_log(paths.logs["cosmology"], sim, "cosmology") as say:
        timed("cosmology", lambda: say(cosmology.run(row, config, paths.cosmology)))
    with stage_log(paths.logs["power"], sim, "power") as say:
        timed("power", lambda: say(power.run(paths.cosmology, config, paths.power)))
    ics_file, scratch = paths.ics, None
    if ics_file is None:
        fd, scratch = tempfile.mkstemp(prefix=".tmp-ics-", suffix=".hdf5",
                                       dir=Path(paths.conf).parent)
        os.close(fd)
        ics_file = scratch
    try:
        with stage_log(paths.logs["ics"], sim, "ics") as say:
            timed("ics", lambda: say(ics.run(
                paths.cosmology, cfg, paths.power, paths.conf, paths.transfer, ics_file, log=say)))
        with stage_log(paths.logs["cola"], sim, "cola") as say:
            timed("cola", lambda: cola.run(ics_file, paths.cosmology,
                                           {**config["cola"], "threads": threads},
                                           paths.snapshots, log=say))
    finally:
        if scratch:
            Path(scratch).unlink(missing_ok=True)
    times["voxels"] = 0.0
    for z, snap in paths.snapshots.items():
        with stage_log(paths.logs[("voxels", z)], sim, f"voxels z = {z}") as say:
            t0 = time.perf_counter()
            say(voxels.run(snap, paths.voxels[z], sim=sim, n_voxels=vox_cfg["n_voxels"],
                           subvolume=vox_cfg["subvolume"], threads=threads))
            times["voxels"] += time.perf_counter() - t0
    return times


def run_batch(rows: Sequence[dict], config: dict, paths: Mapping[str, SimPaths], *,
              threads: int = 1, log=print) -> None:
    """Every stage of every simulation of ``rows`` (cosmologies.csv rows, as the workflow draws
    them), one simulation after the other; stops at the first failure (BatchError)."""
    for row in rows:
        sim = str(row["sim"])
        times = run_simulation(row, config, paths[sim], threads)
        log(f"sim {sim}: " + ", ".join(f"{k} {v:.2f} s" for k, v in times.items()))
