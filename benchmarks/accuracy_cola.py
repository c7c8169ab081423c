"""COLA accuracy: P(k) of the production setting (1x mesh, 10 steps) vs a converged run.

Converged reference: our own engine with a 3x finer mesh and 40 steps (same ICs). Bar (issue 5):
within 0.5 % for k <= 0.3 h/Mpc and within 2 % at k = 0.5 h/Mpc. Also printed, same ICs:
pycola3 (1x mesh, 10 steps, its own smoothed frame and gradient; where its venv exists), and our
engine with nLPT = -1 (step-convergence comparison), and 20 steps.

Usage: python benchmarks/accuracy_cola.py [--n 128] [--box 128] [--ref-steps 40] [--ref-gridscale 3]
       [--figure docs/figures/cola_accuracy.png]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pycola_wrapper import cola, lpt, measure, power, pycola3_engine  # noqa: E402
from pycola_wrapper.cosmology import Cosmology  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--box", type=float, default=None, help="[Mpc/h], default n (1 Mpc/h spacing)")
    ap.add_argument("--ref-steps", type=int, default=40)
    ap.add_argument("--ref-gridscale", type=int, default=3)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--figure", default=None)
    ap.add_argument("--no-pycola3", action="store_true")
    args = ap.parse_args()
    n = args.n
    box = args.box or float(n)
    cosmo = Cosmology(Omega_m=0.3, sigma_8=0.8, n_s=0.96, H0=70.3)
    dk = lpt.linear_delta_k(lpt.white_noise(n, args.seed), box, lambda k: power.eisenstein_hu_pk(k, cosmo))
    psi1, psi2 = lpt.zeldovich(dk, box), lpt.second_order(dk, box)
    del dk

    def run(label, **kw):
        t = time.perf_counter()
        x = cola.evolve(psi1, psi2, cosmo, box, a_start=0.1, threads=args.threads, **kw)[1.0]
        print(f"  {label}: {time.perf_counter() - t:.1f} s", flush=True)
        return x

    print(f"{n}^3 particles, {box:g} Mpc/h, z = 0, a_start = 0.1")
    runs = {
        "ref": run(f"reference ({args.ref_gridscale}x mesh, {args.ref_steps} steps)",
                   n_steps=args.ref_steps, gridscale=args.ref_gridscale),
        "ours 1x/10": run("ours 1x mesh, 10 steps", n_steps=10, gridscale=1),
        "ours 1x/20": run("ours 1x mesh, 20 steps", n_steps=20, gridscale=1),
        "ours 1x/10 nLPT=-1": run("ours 1x mesh, 10 steps, nLPT = -1", n_steps=10, gridscale=1, n_lpt=-1.0),
    }
    if not args.no_pycola3 and pycola3_engine.venv_python().exists():
        t = time.perf_counter()
        snaps, _ = pycola3_engine.run_pycola3(psi1, psi2, cosmo.Omega_m, box, a_start=0.1, n_steps=10)
        runs["pycola3 1x/10"] = snaps[1.0]
        print(f"  pycola3 1x mesh, 10 steps: {time.perf_counter() - t:.1f} s")
    m = 2 * n  # measurement mesh (CIC deconvolved): Nyquist 2x the particles'
    kf = 2 * np.pi / box
    edges = kf * np.concatenate([np.arange(0.5, 8.5, 1.0), np.geomspace(8.5, m / 2, 28)[1:]])
    spectra = {}
    for key, x in runs.items():
        k, p, _ = measure.power_spectrum(x, box, m, edges)
        spectra[key] = p
    ref = spectra["ref"]
    print(f"\nP(k) / P_ref(k) - 1 [%] (reference: {args.ref_gridscale}x mesh, {args.ref_steps} steps)")
    sel = k <= 1.05
    print("k [h/Mpc]      " + " ".join(f"{v:6.3f}" for v in k[sel]))
    for key in runs:
        if key == "ref":
            continue
        print(f"{key:15s}" + " ".join(f"{100 * (spectra[key][i] / ref[i] - 1):6.2f}" for i in np.where(sel)[0]))
    print("\nbar: |ratio - 1| <= 0.5 % for k <= 0.3, <= 2 % at k = 0.5 (interpolated)")
    for key in runs:
        if key == "ref":
            continue
        r = spectra[key] / ref - 1
        low = np.abs(r[k <= 0.3]).max()
        at05 = np.interp(np.log(0.5), np.log(k), r)
        at1 = np.interp(np.log(1.0), np.log(k), r) if k[-1] >= 1.0 else float("nan")
        ok = low <= 0.005 and abs(at05) <= 0.02
        print(f"{key:20s} max |dP/P| k<=0.3: {100 * low:5.2f} %   k=0.5: {100 * at05:+6.2f} %   "
              f"k=1.0: {100 * at1:+6.2f} %   {'PASS' if ok else 'FAIL'}")
    if args.figure:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for key in runs:
            if key != "ref":
                ax.semilogx(k, 100 * (spectra[key] / ref - 1), label=key)
        ax.axhspan(-0.5, 0.5, color="0.85", zorder=0)
        ax.axhline(0, color="k", lw=0.5)
        ax.axvline(0.3, color="0.5", ls=":")
        ax.axvline(0.5, color="0.5", ls=":")
        ax.set_xlabel("k [h/Mpc]")
        ax.set_ylabel(r"$P/P_\mathrm{ref} - 1$ [%]")
        ax.set_ylim(-6, 3)
        ax.set_title(f"COLA z=0, {n}$^3$, {box:g} Mpc/h; ref: {args.ref_gridscale}x mesh, {args.ref_steps} steps")
        ax.legend(fontsize=8)
        fig.tight_layout()
        Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.figure, dpi=120)
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
