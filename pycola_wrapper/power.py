"""Linear matter power spectra: Eisenstein & Hu (1998) fit, sigma_R, and the tabulated P(k).

Units: k in [h/Mpc], P(k) in [(Mpc/h)^3], radii in [Mpc/h]. Pure functions except
``PowerTable.load``/``save`` (HDF5 I/O at the edge).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import integrate

from .cosmology import Cosmology


def eisenstein_hu_transfer(k, cosmo: Cosmology):
    """Eisenstein & Hu 1998 (ApJ 496, 605) transfer function with baryon wiggles.

    Parameters
    ----------
    k : array  Wavenumbers in [h/Mpc].
    cosmo : Cosmology

    Returns
    -------
    T : array  Transfer function, T -> 1 as k -> 0.

    Notes
    -----
    Equations (2)-(24) of the paper, T = f_b T_b + f_c T_c.
    """
    k = np.asarray(k, dtype=np.float64) * cosmo.h  # 1/Mpc
    h2 = cosmo.h**2
    om, ob = cosmo.Omega_m * h2, cosmo.Omega_b * h2
    fb = cosmo.Omega_b / cosmo.Omega_m
    fc = 1.0 - fb
    theta = cosmo.T_cmb / 2.7

    z_eq = 2.50e4 * om * theta**-4                                      # eq. 2
    k_eq = 7.46e-2 * om * theta**-2                                     # eq. 3, 1/Mpc
    b1 = 0.313 * om**-0.419 * (1 + 0.607 * om**0.674)
    b2 = 0.238 * om**0.223
    z_d = 1291 * om**0.251 / (1 + 0.659 * om**0.828) * (1 + b1 * ob**b2)  # eq. 4

    def R(z):                                                            # eq. 5
        return 31.5 * ob * theta**-4 * (z / 1e3) ** -1

    R_eq, R_d = R(z_eq), R(z_d)
    s = (2.0 / (3.0 * k_eq) * np.sqrt(6.0 / R_eq)
         * np.log((np.sqrt(1 + R_d) + np.sqrt(R_d + R_eq)) / (1 + np.sqrt(R_eq))))  # eq. 6
    k_silk = 1.6 * ob**0.52 * om**0.73 * (1 + (10.4 * om) ** -0.95)  # eq. 7
    q = k / (13.41 * k_eq)                                              # eq. 10

    a1 = (46.9 * om) ** 0.670 * (1 + (32.1 * om) ** -0.532)
    a2 = (12.0 * om) ** 0.424 * (1 + (45.0 * om) ** -0.582)
    alpha_c = a1 ** (-fb) * a2 ** (-fb**3)                              # eq. 11
    bb1 = 0.944 / (1 + (458 * om) ** -0.708)
    bb2 = (0.395 * om) ** -0.0266
    beta_c = 1.0 / (1 + bb1 * (fc**bb2 - 1))                            # eq. 12

    def T0(alpha, beta):                                                 # eqs. 19-20
        L = np.log(np.e + 1.8 * beta * q)
        C = 14.2 / alpha + 386.0 / (1 + 69.9 * q**1.08)
        return L / (L + C * q**2)

    ks = k * s
    f = 1.0 / (1 + (ks / 5.4) ** 4)                                     # eq. 18
    T_c = f * T0(1.0, beta_c) + (1 - f) * T0(alpha_c, beta_c)          # eq. 17

    y = (1 + z_eq) / (1 + z_d)
    G = y * (-6 * np.sqrt(1 + y) + (2 + 3 * y) * np.log((np.sqrt(1 + y) + 1) / (np.sqrt(1 + y) - 1)))
    alpha_b = 2.07 * k_eq * s * (1 + R_d) ** -0.75 * G                  # eq. 14
    beta_node = 8.41 * om**0.435                                        # eq. 23
    beta_b = 0.5 + fb + (3 - 2 * fb) * np.sqrt((17.2 * om) ** 2 + 1)   # eq. 24
    with np.errstate(divide="ignore", invalid="ignore"):
        s_tilde = s / (1 + (beta_node / ks) ** 3) ** (1.0 / 3.0)        # eq. 22
        x = k * s_tilde
        j0 = np.where(x > 0, np.sin(x) / np.where(x > 0, x, 1.0), 1.0)
        T_b = (T0(1.0, 1.0) / (1 + (ks / 5.2) ** 2)
               + alpha_b / (1 + (beta_b / ks) ** 3) * np.exp(-((k / k_silk) ** 1.4))) * j0  # eq. 21
    T_b = np.where(k > 0, T_b, 1.0)
    return fb * T_b + fc * T_c


def tophat_window(x):
    """Fourier transform of a real-space top hat, W(x) = 3 (sin x - x cos x) / x^3."""
    x = np.asarray(x, dtype=np.float64)
    small = x < 1e-3
    xs = np.where(small, 1.0, x)
    return np.where(small, 1.0 - x**2 / 10.0, 3.0 * (np.sin(xs) - xs * np.cos(xs)) / xs**3)


def sigma_R(k, pk, R: float = 8.0) -> float:
    """rms linear overdensity in top-hat spheres of radius R [Mpc/h].

    sigma^2 = 1/(2 pi^2) int k^3 P(k) W(kR)^2 dln k, by Simpson's rule on the given
    (log-spaced) table; k in [h/Mpc], P in [(Mpc/h)^3].
    """
    k = np.asarray(k, dtype=np.float64)
    pk = np.asarray(pk, dtype=np.float64)
    integrand = k**3 * pk * tophat_window(k * R) ** 2 / (2 * np.pi**2)
    return float(np.sqrt(integrate.simpson(integrand, x=np.log(k))))


def eisenstein_hu_pk(k, cosmo: Cosmology):
    """Linear P(k, z=0) [(Mpc/h)^3] from EH98, k^n_s T^2 normalised to cosmo.sigma_8.

    The normalisation integral runs on its own wide log grid (1e-5..1e3 h/Mpc), so the
    result does not depend on the k range asked for.
    """
    kk = np.logspace(-5, 3, 4096)
    shape = kk**cosmo.n_s * eisenstein_hu_transfer(kk, cosmo) ** 2
    amp = (cosmo.sigma_8 / sigma_R(kk, shape, 8.0)) ** 2
    k = np.asarray(k, dtype=np.float64)
    return amp * k**cosmo.n_s * eisenstein_hu_transfer(k, cosmo) ** 2


class OutOfTableError(ValueError):
    """A value was asked for outside the tabulated range (no silent extrapolation)."""


def _check_range(name: str, x, lo: float, hi: float, source: str) -> None:
    x = np.asarray(x)
    if x.size and (np.nanmin(x) < lo * (1 - 1e-12) or np.nanmax(x) > hi * (1 + 1e-12)):
        raise OutOfTableError(
            f"{source}: {name} in [{np.nanmin(x):.6g}, {np.nanmax(x):.6g}] is outside the "
            f"tabulated range [{lo:.6g}, {hi:.6g}]; widen the table (config power:) instead of "
            f"extrapolating")


@dataclass
class PowerTable:
    """Tabulated linear P(k, z=0) and growth of one simulation.

    k : [h/Mpc], log-spaced; pk : [(Mpc/h)^3] at z = 0; a : scale factors; D1 : linear growth,
    D1(a=1) = 1; f : dlnD1/dlna. ``attrs`` holds the transfer name and the cosmology (the power
    stage adds ``amplitude``, the config's amplitude parameter, sigma_8 or A_s, and ``A_s``;
    ``sigma_8`` is then CLASS's for that A_s, so a .conf's sigma_8 matches it either way).
    """

    k: np.ndarray
    pk: np.ndarray
    a: np.ndarray
    D1: np.ndarray
    f: np.ndarray
    attrs: dict = field(default_factory=dict)
    source: str = "<memory>"

    def P(self, k):
        """P_lin(k, z=0) [(Mpc/h)^3], log-log interpolation; raises outside [k_min, k_max]."""
        k = np.asarray(k, dtype=np.float64)
        _check_range("k [h/Mpc]", k, self.k[0], self.k[-1], self.source)
        return np.exp(np.interp(np.log(k), np.log(self.k), np.log(self.pk)))

    def growth(self, a):
        """D1(a) by log-log interpolation of the table; raises outside [a_min, 1]."""
        a = np.asarray(a, dtype=np.float64)
        _check_range("a", a, self.a[0], self.a[-1], self.source)
        return np.exp(np.interp(np.log(a), np.log(self.a), np.log(self.D1)))

    def growth_rate(self, a):
        """f(a) = dlnD1/dlna by linear interpolation in log a; raises outside [a_min, 1]."""
        a = np.asarray(a, dtype=np.float64)
        _check_range("a", a, self.a[0], self.a[-1], self.source)
        return np.interp(np.log(a), np.log(self.a), self.f)

    def cosmology(self) -> Cosmology:
        keys = ("Omega_m", "sigma_8", "n_s", "H0", "Omega_b", "T_cmb")
        return Cosmology(**{key: float(self.attrs[key]) for key in keys})

    def save(self, path: str | Path) -> None:
        import h5py

        with h5py.File(path, "w") as h5:
            for name in ("k", "pk", "a", "D1", "f"):
                h5.create_dataset(name, data=getattr(self, name))
            h5["k"].attrs["units"] = "h/Mpc"
            h5["pk"].attrs["units"] = "(Mpc/h)^3, linear, z=0"
            for key, value in self.attrs.items():
                h5.attrs[key] = value

    @classmethod
    def load(cls, path: str | Path) -> "PowerTable":
        import h5py

        path = Path(path)
        try:
            with h5py.File(path, "r") as h5:
                missing = [n for n in ("k", "pk", "a", "D1", "f") if n not in h5]
                if missing:
                    raise KeyError(f"{path}: missing dataset(s) {missing}; expected a power table "
                                   f"written by the power stage")
                data = {n: h5[n][...] for n in ("k", "pk", "a", "D1", "f")}
                attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in h5.attrs.items()}
        except OSError as err:
            raise OSError(f"{path}: not a readable HDF5 power table ({err})") from err
        return cls(**data, attrs=attrs, source=str(path))
