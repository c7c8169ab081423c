"""COLA speed and memory: our engine vs pycola3, measured in the same run.

Target (issue 5): 512^3 particles, 512 Mpc/h, 1x mesh, 10 steps, 2LPT included:
<= 180 s wall and <= 10 GB peak RSS on 2 cores (pycola3 measured 298 s / 12.2 GB on this kind).

Each engine runs in its own fresh process (peak RSS = that process's ru_maxrss):
1. ours: white noise + Zel'dovich (reported apart), FFT 2LPT, evolve; per-part split
   (deposit / FFT / gradient + interpolation / drift) and s/step. Writes the Zel'dovich field
   for pycola3 (outside the timed parts).
2. pycola3 (where its venv exists, see pycola_wrapper.pycola3_engine): reads that field, runs
   its own 2LPT (ic_2lpt) and its evolve (n_steps + 1 force evaluations).

Usage: python benchmarks/bench_cola.py [--n 256] [--box BOX] [--steps 10] [--gridscale 1]
       [--threads 2] [--no-pycola3]
Run --n 256 first; 512 is the target size (needs ~10 + 12 GB, sequentially).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _ours(args) -> dict:
    import numba
    import h5py
    import numpy as np

    from pycola_wrapper import cola, lpt, power
    from pycola_wrapper.cosmology import Cosmology

    numba.set_num_threads(args.threads)
    cosmo = Cosmology(Omega_m=0.3, sigma_8=0.8, n_s=0.96, H0=70.3)
    res = {}
    t0 = time.perf_counter()
    noise = lpt.white_noise(args.n, args.seed)
    dk = lpt.linear_delta_k(noise, args.box, lambda k: power.eisenstein_hu_pk(k, cosmo), workers=args.threads)
    del noise
    psi1 = lpt.zeldovich(dk, args.box, workers=args.threads)
    res["za"] = time.perf_counter() - t0
    tic = time.perf_counter()
    psi2 = lpt.second_order(dk, args.box, workers=args.threads)
    del dk
    res["2lpt"] = time.perf_counter() - tic
    if args.za_out:
        with h5py.File(args.za_out, "w") as f:  # input of the pycola3 driver (not timed)
            f["psi1"] = psi1
            f.attrs.update(Omega_m=cosmo.Omega_m, box=args.box, a_start=0.1, n_steps=args.steps,
                           gridscale=args.gridscale, a_out=np.array([1.0]), own_2lpt=True)
    steps = []
    tic = time.perf_counter()
    cola.evolve(psi1, psi2, cosmo, args.box, a_start=0.1, n_steps=args.steps, gridscale=args.gridscale,
                a_out=[1.0], threads=args.threads, progress=steps.append,
                on_output=lambda a, x: None)
    res["evolve"] = time.perf_counter() - tic
    res["split"] = steps[-1].times
    res["peak_rss"] = cola.rss_bytes()[1]
    res["step_times"] = [s.elapsed for s in steps]
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=512, help="particles per side")
    ap.add_argument("--box", type=float, default=None, help="box side [Mpc/h] (default: n, 1 Mpc/h spacing)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--gridscale", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-pycola3", action="store_true", help="skip pycola3 even if its venv exists")
    ap.add_argument("--role", default="main", help=argparse.SUPPRESS)
    ap.add_argument("--za-out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.box = args.box or float(args.n)
    if args.role == "ours":
        print("RESULT " + json.dumps(_ours(args)), flush=True)
        return

    from pycola_wrapper import pycola3_engine as p3

    py3 = p3.venv_python()
    have_p3 = (not args.no_pycola3) and py3.exists() and (p3.DEFAULT_VENV / "cosmoflow-stamp.json").exists()
    with tempfile.TemporaryDirectory(prefix="bench-cola-", dir=os.environ.get("TMPDIR", "/tmp")) as tmp:
        za = Path(tmp) / "za.h5"
        cmd = [sys.executable, __file__, "--role", "ours", "--n", str(args.n), "--box", str(args.box),
               "--steps", str(args.steps), "--gridscale", str(args.gridscale),
               "--threads", str(args.threads), "--seed", str(args.seed)]
        if have_p3:
            cmd += ["--za-out", str(za)]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"our engine failed:\n{out.stderr[-3000:]}")
        ours = json.loads(out.stdout.split("RESULT ", 1)[1])
        ours["process_wall"] = time.perf_counter() - t0
        theirs = None
        if have_p3:
            dst = Path(tmp) / "out.h5"
            t0 = time.perf_counter()
            res = subprocess.run([str(py3), str(Path(p3.__file__).resolve()), str(za), str(dst)],
                                 capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if res.returncode != 0:
                print(f"pycola3 failed (rc {res.returncode}):\n{res.stderr[-3000:]}")
            else:
                import h5py
                with h5py.File(dst, "r") as f:
                    theirs = {k: float(v) for k, v in f.attrs.items()}
                theirs["process_wall"] = wall

    gb = 1e9
    n, steps = args.n, args.steps
    ours_total = ours["2lpt"] + ours["evolve"]
    print(f"COLA benchmark: {n}^3 particles, {args.box:g} Mpc/h, mesh {args.gridscale * n}^3, {steps} steps, "
          f"{args.threads} threads")
    print(f"ours   : Zel'dovich {ours['za']:.1f} s (not counted), 2LPT {ours['2lpt']:.1f} s, evolve "
          f"{ours['evolve']:.1f} s -> 2LPT + evolve {ours_total:.1f} s; {ours['evolve'] / steps:.2f} s/step; "
          f"peak RSS {ours['peak_rss'] / gb:.2f} GB")
    sp = ours["split"]
    print("         split (s, all steps): " + ", ".join(f"{k} {v:.1f}" for k, v in sp.items()))
    print("         per step: " + ", ".join(f"{k} {v / steps:.2f}" for k, v in sp.items() if k != "lpt_init"))
    if theirs is not None:
        t_ev = theirs.get("time_evolve_a1.0000", float("nan"))
        t_2 = theirs.get("time_2lpt", float("nan"))
        their_total = t_2 + t_ev
        print(f"pycola3: read {theirs.get('time_read', float('nan')):.1f} s (not counted), 2LPT {t_2:.1f} s, "
              f"evolve {t_ev:.1f} s -> 2LPT + evolve {their_total:.1f} s; {t_ev / (steps + 1):.2f} s per force "
              f"step ({steps + 1}); peak RSS {theirs['peak_rss'] / gb:.2f} GB")
        print(f"ratio pycola3 / ours: wall (2LPT + evolve) {their_total / ours_total:.2f}x, "
              f"peak RSS {theirs['peak_rss'] / ours['peak_rss']:.2f}x")
    else:
        print("pycola3: not run (no venv at "
              f"{p3.DEFAULT_VENV}; build it with pycola_wrapper.pycola3_engine.ensure_venv())")
    if n == 512 and args.gridscale == 1 and steps == 10:
        ok_t = ours_total <= 180
        ok_m = ours["peak_rss"] <= 10e9
        print(f"target 512^3: wall {ours_total:.0f} s <= 180 s: {'PASS' if ok_t else 'FAIL'}; "
              f"peak RSS {ours['peak_rss'] / gb:.2f} GB <= 10 GB: {'PASS' if ok_m else 'FAIL'}")


if __name__ == "__main__":
    main()
