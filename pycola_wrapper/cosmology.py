"""Flat LCDM background and linear growth (matter + Lambda, no radiation).

All functions are pure: scale factor ``a`` (array or scalar) in, arrays out.
Growth follows Heath (1977): D(a) proportional to E(a) * int_0^a da' / (a' E(a'))^3, exact for
matter + Lambda, normalised to D1(a=1) = 1.
"""
from __future__ import annotations

from dataclasses import dataclass, asdict

import numpy as np
from scipy import integrate


@dataclass(frozen=True)
class Cosmology:
    """Flat LCDM parameters.

    Omega_m : matter density today; Omega_L = 1 - Omega_m (flat).
    sigma_8 : rms linear density in 8 Mpc/h spheres at z = 0.
    n_s : primordial spectral index.
    H0 : Hubble constant [km/s/Mpc].
    Omega_b : baryon density today.
    T_cmb : CMB temperature [K].
    """

    Omega_m: float
    sigma_8: float
    n_s: float
    H0: float
    Omega_b: float = 0.045
    T_cmb: float = 2.7255

    def __post_init__(self) -> None:
        if not 0.0 < self.Omega_m <= 1.0:
            raise ValueError(f"Omega_m = {self.Omega_m}: expected 0 < Omega_m <= 1")
        if not 0.0 <= self.Omega_b < self.Omega_m:
            raise ValueError(f"Omega_b = {self.Omega_b}: expected 0 <= Omega_b < Omega_m")
        if self.sigma_8 <= 0 or self.H0 <= 0:
            raise ValueError(f"sigma_8 = {self.sigma_8}, H0 = {self.H0}: expected both > 0")

    @property
    def Omega_L(self) -> float:
        return 1.0 - self.Omega_m

    @property
    def h(self) -> float:
        return self.H0 / 100.0

    def as_dict(self) -> dict:
        d = asdict(self)
        d["Omega_L"] = self.Omega_L
        return d


def E(a, cosmo: Cosmology):
    """Dimensionless Hubble rate E(a) = H(a) / H0 (flat, matter + Lambda)."""
    a = np.asarray(a, dtype=np.float64)
    return np.sqrt(cosmo.Omega_m * a**-3 + cosmo.Omega_L)


def Omega_m_a(a, cosmo: Cosmology):
    """Matter density parameter at scale factor a: Omega_m / (Omega_m + Omega_L a^3)."""
    a = np.asarray(a, dtype=np.float64)
    return cosmo.Omega_m / (cosmo.Omega_m + cosmo.Omega_L * a**3)


def _heath_integral(a, cosmo: Cosmology) -> np.ndarray:
    """I(a) = int_0^a da' / (a' E(a'))^3, by adaptive quadrature (vectorised over a)."""
    a = np.atleast_1d(np.asarray(a, dtype=np.float64))
    if np.any(a <= 0):
        raise ValueError("scale factor a must be > 0")

    def integrand(x: float) -> float:
        return 1.0 / (x * np.sqrt(cosmo.Omega_m / x**3 + cosmo.Omega_L)) ** 3

    out = np.empty_like(a)
    for i, ai in enumerate(a.ravel()):
        out.ravel()[i] = integrate.quad(integrand, 0.0, ai, epsabs=0.0, epsrel=1e-12, limit=200)[0]
    return out


def growth_D1(a, cosmo: Cosmology):
    """Linear growth factor D1(a), normalised to D1(1) = 1 (dimensionless)."""
    a = np.asarray(a, dtype=np.float64)
    num = E(a, cosmo) * _heath_integral(a, cosmo).reshape(a.shape)
    den = E(1.0, cosmo) * _heath_integral(1.0, cosmo)[0]
    return num / den


def growth_f(a, cosmo: Cosmology):
    """Linear growth rate f(a) = dln D1 / dln a (dimensionless)."""
    a = np.asarray(a, dtype=np.float64)
    e2 = E(a, cosmo) ** 2
    I = _heath_integral(a, cosmo).reshape(a.shape)
    return -1.5 * cosmo.Omega_m * a**-3 / e2 + 1.0 / (a**2 * E(a, cosmo) ** 3 * I)


def growth_D2(a, cosmo: Cosmology):
    """Second-order growth D2(a) = D1^2 (Omega_m(a)/Omega_m)^(-1/143), D2(1) = 1.

    Positive by convention: the -3/7 factor is carried by Psi2 itself (see lpt.py).
    """
    return growth_D1(a, cosmo) ** 2 * (Omega_m_a(a, cosmo) / cosmo.Omega_m) ** (-1.0 / 143.0)


def vfact(a, cosmo: Cosmology):
    """Velocity factor 100 a E(a) f(a) [km/s per Mpc/h]: v = vfact * Psi (1LPT, Psi at a)."""
    a = np.asarray(a, dtype=np.float64)
    return 100.0 * a * E(a, cosmo) * growth_f(a, cosmo)
