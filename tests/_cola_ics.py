"""Shared helpers of the COLA tests: 2LPT initial conditions built directly with lpt.py."""
import functools

import numpy as np

from pycola_wrapper import lpt, power
from pycola_wrapper.cosmology import Cosmology

COSMO = Cosmology(Omega_m=0.3, sigma_8=0.8, n_s=0.96, H0=70.3)


@functools.lru_cache(maxsize=8)
def ics(n: int, box: float, seed: int = 7, sigma_8: float = 0.8):
    """(psi1, psi2, cosmo): EH98 Gaussian field, FFT 2LPT, D1 = 1 at z = 0 (read-only arrays)."""
    cosmo = Cosmology(Omega_m=COSMO.Omega_m, sigma_8=sigma_8, n_s=COSMO.n_s, H0=COSMO.H0)
    dk = lpt.linear_delta_k(lpt.white_noise(n, seed), box, lambda k: power.eisenstein_hu_pk(k, cosmo))
    psi1, psi2 = lpt.zeldovich(dk, box), lpt.second_order(dk, box)
    psi1.flags.writeable = False
    psi2.flags.writeable = False
    return psi1, psi2, cosmo
