"""Run a real MUSIC binary (Hahn & Abel 2011, v1.53) on a .conf and turn its output into ics.hdf5.

MUSIC runs in a scratch folder next to the output (it writes ``wnoise_*.bin``,
``input_powerspec.txt`` and ``<conf>_log.txt`` into its working directory). Its generic HDF5 file
is kept as it is (float64, levels 0..L, DM_potential) and receives what the COLA stage needs:
``/lpt/psi1_*`` (MUSIC's own 1LPT displacement, d x box / D+, when ``use_2LPT = no``; else the
spectral Zel'dovich field of its first-order density), ``/lpt/psi2_*`` (our FFT 2LPT from its
first-order density ``rho`` / D+) and the root attributes of the builtin generator. The file is
then renamed onto the output (same folder: atomic) and the scratch folder removed.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import scipy.fft as sfft

from . import cosmology as cosmo_mod
from . import lpt
from .ics import PAD, level_name, root_attrs
from .music_conf import MusicConf, ics_params
from .power import PowerTable


class MusicError(RuntimeError):
    """MUSIC is absent, failed, or wrote no usable output."""


def find_music(binary: str | None = None) -> Path:
    """Path of the MUSIC executable: ``binary`` (config ics.music_binary) or ``MUSIC`` on PATH."""
    if binary:
        path = Path(binary).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise MusicError(f"ics.music_binary = {binary!r}: no executable file there (build one with "
                             f"`bash workflow/scripts/build_music.sh`, or set ics.generator: builtin)")
        return path.resolve()
    found = shutil.which("MUSIC")
    if not found:
        raise MusicError("ics.generator = music but ics.music_binary is null and no `MUSIC` executable is "
                         "on PATH (set ics.music_binary, or ics.generator: builtin)")
    return Path(found)


def _tail(path: Path, n: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "<no log>"


def _music_dplus(log_path: Path) -> float | None:
    """D+ MUSIC used (its log line ``cosmology/dplus = ...``), None when absent."""
    try:
        m = re.search(r"cosmology/dplus\s*=\s*([0-9.eE+-]+)", log_path.read_text(errors="replace"))
    except OSError:
        return None
    return float(m.group(1)) if m else None


def scratch_conf(conf: MusicConf) -> MusicConf:
    """The .conf as MUSIC runs it in the scratch folder: output ics.hdf5, absolute transfer_file."""
    p = ics_params(conf)
    out = conf.with_value("output", "filename", "ics.hdf5").with_value("output", "format", "generic")
    if p.transfer == "camb_file":
        out = out.with_value("cosmology", "transfer_file", p.transfer_file)
    return out


def run_music(conf: MusicConf, out: str | Path, binary: str | None = None, threads: int = 1,
              timeout: float | None = None, log=None) -> dict:
    """Run MUSIC for ``conf`` and write ``out`` (MUSIC's generic file + /lpt + root attrs).

    Raises MusicError with the tail of MUSIC's log when it exits non-zero or writes no file.
    Returns the root attributes written.
    """
    import h5py

    exe = find_music(binary)
    p = ics_params(conf)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    say = log or (lambda msg: None)
    scratch = Path(tempfile.mkdtemp(prefix=".music-scratch-", dir=out.parent))
    try:
        (scratch / "music.conf").write_text(scratch_conf(conf).text)
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        with open(scratch / "music.stdout", "w") as fh:
            try:
                rc = subprocess.run([str(exe), "music.conf"], cwd=scratch, stdout=fh, stderr=subprocess.STDOUT,
                                    env=env, timeout=timeout).returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
        result = scratch / "ics.hdf5"
        if rc != 0 or not result.is_file():
            raise MusicError(f"{exe} on {conf.source} exited with {rc}"
                             f"{'' if result.is_file() else ' and wrote no ics.hdf5'}; last lines of its "
                             f"output:\n{_tail(scratch / 'music.stdout')}\n--- music.conf_log.txt:\n"
                             f"{_tail(scratch / 'music.conf_log.txt')}")
        say(f"MUSIC done: {_tail(scratch / 'music.stdout', 2)}")
        cosmo = p.cosmology
        a = p.a_start
        dplus = _music_dplus(scratch / "music.conf_log.txt") or float(cosmo_mod.growth_D1(a, cosmo))
        d2 = float(cosmo_mod.growth_D2(a, cosmo))
        vf = float(cosmo_mod.vfact(a, cosmo))
        table = PowerTable(k=np.zeros(0), pk=np.zeros(0), a=np.zeros(0), D1=np.zeros(0), f=np.zeros(0),
                           attrs={"transfer": p.transfer}, source=f"MUSIC ({exe})")
        attrs = root_attrs(p, conf, table, "music", dplus, d2, vf)
        attrs["music_binary"] = str(exe)
        inner = (slice(PAD, -PAD),) * 3
        with h5py.File(result, "a") as h5:
            rho = h5[level_name(p.level, "rho")][inner].astype(np.float32)
            delta_k = sfft.rfftn(rho, workers=threads)
            delta_k /= np.float32(dplus)
            delta_k[0, 0, 0] = 0.0
            del rho
            grp = h5.create_group("lpt")
            grp.attrs["units"] = "Mpc/h, D1 = 1 at z = 0; x = q + D1 Psi1 + D2 Psi2"
            if p.use_2LPT:
                psi1 = lpt.zeldovich(delta_k, p.box, threads)
                grp.attrs["psi1_from"] = "spectral Zel'dovich field of MUSIC's first-order rho / D+"
                for i, c in enumerate("xyz"):
                    grp.create_dataset(f"psi1_{c}", data=psi1[i])
                del psi1
            else:
                grp.attrs["psi1_from"] = "MUSIC's level d{x,y,z} x boxlength / D+"
                for c in "xyz":
                    d = h5[level_name(p.level, f"d{c}")][inner]
                    grp.create_dataset(f"psi1_{c}", data=(d * (p.box / dplus)).astype(np.float32))
            grp.attrs["psi2_from"] = "FFT 2LPT of MUSIC's first-order rho / D+"
            psi2 = lpt.second_order(delta_k, p.box, threads)
            for i, c in enumerate("xyz"):
                grp.create_dataset(f"psi2_{c}", data=psi2[i])
            del psi2, delta_k
            for key, value in attrs.items():
                h5.attrs[key] = value
        os.replace(result, out)
        return attrs
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
