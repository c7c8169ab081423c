"""Optional engine: the original pyCOLA (its Python 3 port ``pycola3`` 0.0.7) in its own venv.

pycola3 needs numpy < 2 and pyFFTW, so it cannot share our environment. This file has two roles:

- imported from our side (``run_pycola3``, ``ensure_venv``): writes the initial conditions to a
  temporary HDF5 file, runs this same file as a script with the pycola3 venv's python, reads
  the snapshots back;
- run as a script by that python (``python pycola3_engine.py IN.h5 OUT.h5``): calls
  ``pycola3.evolve.evolve`` once per requested scale factor.

So it imports only the standard library, numpy and h5py at module level.

Quirks of pycola3 handled here (see docs/cola.md):
- its growth table is normalised at a = 1.002 (D(1) = 0.99898 for Omega_m = 0.3): Psi1 is
  divided by its D(1) and Psi2 by D(1)^2, so that it evolves the same field as our engine;
- its own 2LPT (``ic_2lpt``, finite differences) is noisy at these resolutions: by default it
  is handed OUR FFT Psi2 (``own_2lpt=False``) and only does the time stepping;
- its particle (i, j, k) starts at q = (i, j, k) L / N (cell corners): its output is shifted by
  +L / (2N) per axis so that particles line up with ours (cell centres) and wrapped into [0, L);
- it imports its compiled modules Python-2 style in some versions: its package folder is put on
  sys.path as well (no patching of the package);
- ``evolve`` only returns a = a_final and smooths its input arrays in place: one call (on fresh
  copies) per output scale factor, each with n_steps steps from a_start to that a;
- it runs with one thread per core (pyFFTW and its Cython prange use cpu_count()).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

PYCOLA3_VERSION = "0.0.7"
# Pins of the pycola3 venv (envs/pycola3.yaml holds the same ones for conda).
VENV_PINS = ["numpy==1.26.4", "scipy==1.13.1", "h5py==3.11.0", "pyFFTW==0.15.0", "Cython>=3.0,<4",
             "setuptools", "wheel"]
DEFAULT_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cosmoflow" / \
    f"pycola3-{PYCOLA3_VERSION}-venv"


# ---------------------------------------------------------------------------------------------
# Our side
# ---------------------------------------------------------------------------------------------

def venv_python(venv: str | os.PathLike = DEFAULT_VENV) -> Path:
    return Path(venv) / "bin" / "python"


def ensure_venv(venv: str | os.PathLike = DEFAULT_VENV, base_python: str | None = None,
                log=None) -> Path:
    """Build (once) the pycola3 venv and return its python; a stamp file records the pins.

    Raises RuntimeError with pip's output when it cannot be built (no network, no compiler).
    """
    venv = Path(venv)
    stamp = venv / "cosmoflow-stamp.json"
    want = {"pycola3": PYCOLA3_VERSION, "pins": VENV_PINS}
    if stamp.exists() and json.loads(stamp.read_text()) == want and venv_python(venv).exists():
        return venv_python(venv)
    base = base_python or _find_base_python()
    steps = [
        [base, "-m", "venv", "--clear", str(venv)],
        [str(venv_python(venv)), "-m", "pip", "install", "-q", *VENV_PINS],
        # pycola3's build needs numpy but does not declare it: no build isolation
        [str(venv_python(venv)), "-m", "pip", "install", "-q", "--no-build-isolation",
         f"pycola3=={PYCOLA3_VERSION}"],
    ]
    for cmd in steps:
        res = subprocess.run(cmd, capture_output=True, text=True)
        if log is not None:
            log(" ".join(cmd) + f" -> {res.returncode}")
        if res.returncode != 0:
            raise RuntimeError(f"building the pycola3 venv at {venv} failed at `{' '.join(cmd)}`:\n"
                               f"{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
    check = subprocess.run([str(venv_python(venv)), "-c", "import pycola3.evolve"],
                           capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"pycola3 installed in {venv} but does not import:\n{check.stderr[-4000:]}")
    stamp.write_text(json.dumps(want))
    return venv_python(venv)


def _find_base_python() -> str:
    """A python of the same minor version with the venv module (not a venv's own python)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return base


def run_pycola3(psi1: np.ndarray, psi2: np.ndarray | None, Omega_m: float, box: float, *,
                a_start: float, n_steps: int, gridscale: int = 1, a_out=(1.0,),
                python: str | os.PathLike | None = None, own_2lpt: bool = False,
                workdir: str | os.PathLike | None = None, timeout: float | None = None,
                log=None) -> tuple[dict[float, np.ndarray], dict]:
    """Run pycola3 on our initial conditions; returns ({a: (N^3, 3) float32 positions}, info).

    Parameters
    ----------
    psi1, psi2 : (3, N, N, N) float32  Our Psi1, Psi2 [Mpc/h], D1 = 1 at z = 0 (psi2 may be None
        with ``own_2lpt``).
    Omega_m : float  Matter density today (flat: Omega_L = 1 - Omega_m).
    box : float  Box side [Mpc/h].
    a_start, n_steps, gridscale, a_out : as in ``cola.evolve``.
    python : path of the pycola3 venv's python (default: ``ensure_venv()``'s).
    own_2lpt : let pycola3 compute Psi2 from Psi1 with its ``ic_2lpt`` (the original pipeline).
    info : wall times and peak RSS measured inside the pycola3 process.
    """
    python = Path(python) if python is not None else ensure_venv()
    with tempfile.TemporaryDirectory(dir=workdir, prefix="pycola3-") as tmp:
        src, dst = Path(tmp) / "in.h5", Path(tmp) / "out.h5"
        with h5py.File(src, "w") as f:
            f["psi1"] = psi1
            if psi2 is not None and not own_2lpt:
                f["psi2"] = psi2
            f.attrs.update(Omega_m=float(Omega_m), box=float(box), a_start=float(a_start),
                           n_steps=int(n_steps), gridscale=int(gridscale),
                           a_out=np.asarray(sorted(float(a) for a in a_out)), own_2lpt=bool(own_2lpt))
        cmd = [str(python), str(Path(__file__).resolve()), str(src), str(dst)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            if log is not None:
                log(line.rstrip())
        rc = proc.wait(timeout=timeout)
        if rc != 0:
            raise RuntimeError(f"pycola3 run `{' '.join(cmd)}` exited with {rc}")
        out = {}
        with h5py.File(dst, "r") as f:
            info = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
            for name in f:
                out[float(f[name].attrs["a"])] = f[name][...]
    return out, info


# ---------------------------------------------------------------------------------------------
# pycola3 side (run as a script by the pycola3 venv's python)
# ---------------------------------------------------------------------------------------------

def _peak_rss() -> int:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _import_pycola3():
    import importlib.util
    spec = importlib.util.find_spec("pycola3")
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError("pycola3 is not installed in this python")
    # some of its modules import siblings Python-2 style (ic_2lpt_engine: `from acceleration
    # import grad_phi`): make its folder importable as top-level modules, without patching it
    here = Path(__file__).resolve().parent  # our package folder: its cic.py must not shadow theirs
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, list(spec.submodule_search_locations)[0])
    from pycola3 import evolve as ev, growth, ic
    return ev, growth, ic


def _main(src: str, dst: str) -> None:
    from scipy import interpolate

    t0 = time.perf_counter()
    ev, growth, ic = _import_pycola3()
    with h5py.File(src, "r") as f:
        psi1 = f["psi1"][...]
        psi2 = f["psi2"][...] if "psi2" in f else None
        at = dict(f.attrs)
    Om, box = float(at["Omega_m"]), float(at["box"])
    n = psi1.shape[1]
    m = int(at["gridscale"]) * n
    cellsize, gridcell = box / n, box / m
    table = growth.growth_factor_solution(Om, 1.0 - Om)
    d1_one = float(interpolate.interp1d(table[:, 0], table[:, 1])(1.0))  # its D(1) (~0.999)
    psi1 /= np.float32(d1_one)
    times = {"read": time.perf_counter() - t0}
    if psi2 is None:
        tic = time.perf_counter()
        sx2, sy2, sz2 = ic.ic_2lpt(cellsize, psi1[0], psi1[1], psi1[2], boxsize=box,
                                   ngrid_x_lpt=n, ngrid_y_lpt=n, ngrid_z_lpt=n)[:3]
        psi2 = np.stack([sx2, sy2, sz2])
        del sx2, sy2, sz2
        times["2lpt"] = time.perf_counter() - tic
        print(f"pycola3 ic_2lpt: {times['2lpt']:.1f} s", flush=True)
    else:
        psi2 /= np.float32(d1_one**2)
    a_out = [float(a) for a in np.atleast_1d(at["a_out"])]
    shift = np.float32(0.5 * cellsize)
    with h5py.File(dst + ".part", "w") as f:
        for i, a in enumerate(a_out):
            tic = time.perf_counter()
            if a <= float(at["a_start"]):
                raise ValueError(f"pycola3 engine: a_out = {a} must be > a_start = {at['a_start']}")
            arrs = [np.array(psi1[c], dtype=np.float32, order="C") for c in range(3)] + \
                   [np.array(psi2[c], dtype=np.float32, order="C") for c in range(3)]
            px, py, pz = ev.evolve(
                cellsize, *arrs, covers_full_box=True,
                ngrid_x=m, ngrid_y=m, ngrid_z=m, gridcellsize=gridcell,
                ngrid_x_lpt=m, ngrid_y_lpt=m, ngrid_z_lpt=m, gridcellsize_lpt=gridcell,
                Om=Om, Ol=1.0 - Om, a_initial=float(at["a_start"]), a_final=a,
                n_steps=int(at["n_steps"]), ncola=-2.5, verbose=False)[:3]
            del arrs
            pos = np.stack([px.ravel(), py.ravel(), pz.ravel()], axis=1)
            del px, py, pz
            pos += shift
            pos %= np.float32(box)
            pos[pos >= np.float32(box)] = 0.0
            times[f"evolve_a{a:.4f}"] = time.perf_counter() - tic
            print(f"pycola3 evolve to a = {a:.4f}: {times[f'evolve_a{a:.4f}']:.1f} s, "
                  f"peak RSS {_peak_rss() / 2**30:.2f} GiB", flush=True)
            dset = f.create_dataset(f"a{i}", data=pos)
            dset.attrs["a"] = a
            del pos
        f.attrs.update({f"time_{k}": v for k, v in times.items()})
        f.attrs["time_total"] = time.perf_counter() - t0
        f.attrs["peak_rss"] = _peak_rss()
        f.attrs["d1_at_1"] = d1_one
    os.replace(dst + ".part", dst)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python pycola3_engine.py IN.h5 OUT.h5 (run by the pycola3 venv's python)")
    _main(sys.argv[1], sys.argv[2])
