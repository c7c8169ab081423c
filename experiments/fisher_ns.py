"""How much does one sample's linear P(k) know about n_s? A Gaussian Fisher estimate.

For a cube of side L [Mpc/h], the modes k_f = 2 pi / L <= |k| <= k_max of a Gaussian field with
P(k) (CLASS, z = 0, linear) + shot noise 1 / nbar give
    F_ij = 1/2 sum over lattice points d ln P_tot / d p_i  d ln P_tot / d p_j,
counted on the cube's full k lattice (k and -k: one complex mode of a real field).
Parameters (Omega_m, sigma_8, n_s) around the middle of the paper's priors. The 1-sigma error on
n_s is printed conditional on the others (known) and marginalised, beside the prior's standard
deviation (0.0289); and the error on sigma_8 with the others known (cosmic variance of the
cube's modes: a floor for any estimator of one box's amplitude from those scales). Linear
theory only: a floor on what P(k) carries, not the non-linear field.

    python experiments/fisher_ns.py [--kmax 0.2 0.4 0.8]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    from cosmoflow.power import class_pk
    from pycola_wrapper.cosmology import Cosmology

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kmax", type=float, nargs="+", default=[0.2, 0.4, 0.8])
    args = p.parse_args()
    fid = {"Omega_m": 0.30, "sigma_8": 0.865, "n_s": 0.95}
    step = {"Omega_m": 0.01, "sigma_8": 0.01, "n_s": 0.01}
    k = np.geomspace(5e-3, 2.0, 400)

    def lnp(**kw):
        c = Cosmology(**{**fid, **kw}, H0=70.3, Omega_b=0.045)
        return np.log(class_pk(k, c))

    base = np.exp(lnp())
    dlnp = {n: (lnp(**{n: fid[n] + step[n]}) - lnp(**{n: fid[n] - step[n]})) / (2 * step[n])
            for n in fid}
    names = list(fid)
    nbar = (128 / 256.0) ** 3   # particles per (Mpc/h)^3 of the default geometry
    print(f"prior sd of n_s: {0.1 / np.sqrt(12):.4f}")
    for side in (64.0, 128.0, 256.0):
        n = int(round(side / 2.0))       # 2 Mpc/h voxels
        f = np.fft.fftfreq(n, 1.0 / n) * 2 * np.pi / side
        kk = np.sqrt(f[:, None, None] ** 2 + f[None, :, None] ** 2 + f[None, None, :] ** 2).ravel()
        for kmax in args.kmax:
            sel = kk[(kk > 0) & (kk <= kmax)]
            ptot = np.interp(sel, k, base) + 1.0 / nbar
            w = np.interp(sel, k, base) / ptot            # d ln P_tot = w d ln P
            d = np.stack([w * np.interp(sel, k, dlnp[n]) for n in names])
            F = 0.5 * d @ d.T     # 1/2 per lattice point (k and -k: one complex mode, 2 dof)
            j = names.index("n_s")
            cond = 1 / np.sqrt(F[j, j])
            marg = np.sqrt(np.diag(np.linalg.inv(F)))
            s8_cond = 1 / np.sqrt(F[1, 1])
            print(f"cube {side:5.0f} Mpc/h, k_max {kmax:.2f} h/Mpc, {len(sel) // 2:6d} modes: "
                  f"sigma(n_s) conditional {cond:.4f}, marginalised over Omega_m, sigma_8 "
                  f"{marg[j]:.4f}; sigma(sigma_8) conditional {s8_cond:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
