"""Widths of the gaussian head: calibration on a held-out split, per-simulation combination,
coverage with bootstrap intervals (pure numpy; docs/model.md, "Uncertainties").

Per sample, the network gives a mean mu and a width sd per parameter (physical units). Two
steps turn those into intervals one can trust:

1. **Combination over a simulation.** The sub-volumes of one simulation are treated as
   independent Gaussian measurements of the same parameter: the simulation's estimate is the
   precision-weighted mean sum(mu_i / sd_i^2) / sum(1 / sd_i^2), its width
   (sum 1 / sd_i^2)^(-1/2). Not a plain mean of widths (which would not shrink with the number of
   sub-volumes), and not the plain mean of mu (which gives a poorly measured sub-volume the weight
   of a good one).
2. **Calibration on held-out simulations.** Sub-volumes of one box are not independent (they share its
   large-scale modes and the network's cosmology-dependent bias), a network's widths can be too
   narrow or too wide overall, and its standardised residuals |true - mu| / sd need not be
   Gaussian. For each parameter, level of estimate (per sample, per simulation) and interval
   level q, the half-width of the interval is r_q sd, r_q fitted on the calibration split
   (sims.n_cal: simulations used neither to train nor to select the epoch; the validation
   split when there is none, which is optimistic: it picked the epoch with the lowest errors):
   the q quantile of those estimates' |true - mu| / sd (split-conformal prediction with
   normalised scores, the finite-sample rank ceil((n + 1) q) of n), where the split has enough
   estimates for that rank (n >= q / (1 - q): 19 for 95 %); otherwise z_q s, s making the
   standardised residuals unit-RMS (the Gaussian fit). Chosen on validation alone
   (experiments/calibration_cv.py: leave-one-simulation-out over the validation simulations).
   The reported width ("sd") is r_0.6827 sd, a one-sigma equivalent. The test split is not used.
   (The functions below say "validation" for the split they are given.)

Coverage of a central interval at level q is the fraction of estimates with
|true - mu| <= r_q sd; its interval comes from the same resamples of whole test simulations as
every other metric.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import norm

from . import bootstrap

#: Levels of the central intervals whose coverage is reported (metrics.json).
REPORTED_LEVELS = (0.6827, 0.95)
#: Nominal levels of the calibration curve (the two reported ones included).
CURVE_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.6827, 0.8, 0.9, 0.95, 0.99)


def z_of(level: float) -> float:
    """Half-width, in standard deviations, of the central Gaussian interval holding ``level``."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"coverage level {level}: expected in (0, 1)")
    return float(norm.ppf(0.5 + 0.5 * level))


def combine(mu: np.ndarray, sd: np.ndarray, groups) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision-weighted estimate and width per simulation.

    mu, sd : (n, L) per-sample means and widths (sd > 0), physical units.
    groups : (n,) simulation of each sample.
    Returns (mu_sim (G, L), sd_sim (G, L), sims (G,) sorted).
    """
    mu, sd = np.asarray(mu, np.float64), np.asarray(sd, np.float64)
    if mu.shape != sd.shape or np.any(~(sd > 0)):
        raise ValueError(f"widths must be positive and shaped like the means ({mu.shape}), "
                         f"got {sd.shape}, min {np.nanmin(sd) if sd.size else None}")
    sims, inv = np.unique(np.asarray(groups), return_inverse=True)
    prec = 1.0 / sd ** 2
    wsum = np.zeros((len(sims), mu.shape[1]))
    msum = np.zeros_like(wsum)
    np.add.at(wsum, inv, prec)
    np.add.at(msum, inv, prec * mu)
    return msum / wsum, wsum ** -0.5, sims


def per_simulation(mu: np.ndarray, sd: np.ndarray, true: np.ndarray, groups):
    """(mu_sim, sd_sim, true_sim, sims): each simulation's precision-weighted combination
    (:func:`combine`) and its label, simulations sorted."""
    mu_s, sd_s, sims = combine(mu, sd, groups)
    return mu_s, sd_s, bootstrap.simulation_means(true, true, groups)[1], sims


def fit(mu: np.ndarray, sd: np.ndarray, true: np.ndarray, groups) -> dict:
    """Radii of every reported and curve level fitted on these (validation) samples, per level of
    estimate: {"per_sample": fit_radii(samples), "per_simulation": fit_radii(combinations)}."""
    levels = sorted(set(REPORTED_LEVELS) | set(CURVE_LEVELS))
    mu_s, sd_s, true_s, _ = per_simulation(mu, sd, true, groups)
    return {"per_sample": fit_radii(mu, sd, true, levels),
            "per_simulation": fit_radii(mu_s, sd_s, true_s, levels)}


def fit_scale(mu: np.ndarray, sd: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(L,) factors s with RMS((true - mu) / (s sd)) = 1 on these (validation) estimates."""
    z = (np.asarray(true, np.float64) - mu) / sd
    return np.sqrt(np.mean(z ** 2, axis=0))


def fit_radii(mu: np.ndarray, sd: np.ndarray, true: np.ndarray, levels) -> dict:
    """Half-widths of the central intervals in units of the widths, fitted on these (validation)
    estimates: {level: {"radius": (L,), "method": "quantile" | "rms"}} (module docstring)."""
    z = np.sort(np.abs(np.asarray(true, np.float64) - mu) / sd, axis=0)
    n = len(z)
    rms = fit_scale(mu, sd, true)
    out = {}
    for q in levels:
        rank = int(np.ceil((n + 1) * q))
        if rank <= n:
            out[q] = {"radius": z[rank - 1].copy(), "method": "quantile"}
        else:
            out[q] = {"radius": z_of(q) * rms, "method": "rms"}
    return out


def covered(mu: np.ndarray, sd: np.ndarray, true: np.ndarray, level: float,
            radius=None) -> np.ndarray:
    """(n, L) 1.0 where the central interval mu +- radius sd holds the truth, else 0.0;
    radius None: the Gaussian z of ``level``."""
    r = z_of(level) if radius is None else np.asarray(radius, np.float64)
    return (np.abs(np.asarray(true, np.float64) - mu) <= r * sd).astype(np.float64)


def _resampled_means(values: np.ndarray, groups, weights: np.ndarray) -> np.ndarray:
    """(n_resamples, L) means of per-sample values over resamples of whole groups."""
    sims, inv = np.unique(np.asarray(groups), return_inverse=True)
    if weights.shape[1] != len(sims):
        raise ValueError(f"weights are for {weights.shape[1]} groups, the data has {len(sims)}")
    sums = np.zeros((len(sims), values.shape[1]))
    np.add.at(sums, inv, values)
    counts = np.bincount(inv, minlength=len(sims)).astype(np.float64)
    return (weights @ sums) / (weights @ counts)[:, None]


def report(mu: np.ndarray, sd: np.ndarray, true: np.ndarray, groups, names: list[str], *,
           radii: dict, weights: np.ndarray, confidence: float,
           levels=REPORTED_LEVELS) -> dict:
    """Coverage and widths of calibrated intervals, per parameter, with bootstrap intervals.

    sd : uncalibrated widths; ``radii`` from :func:`fit_radii` on validation (every level of
    ``levels`` and CURVE_LEVELS). Returns {name: {"scale" (r_0.6827: the one-sigma factor),
    "mean_sd" (mean of r_0.6827 sd), "rmse", "coverage": {level: {"value", "interval", "radius",
    "method"}}, "curve": {"nominal", "empirical"}}}.
    """
    cov = {q: covered(mu, sd, true, q, radii[q]["radius"]) for q in sorted(set(levels) | set(CURVE_LEVELS))}
    res = {q: _resampled_means(c, groups, weights) for q, c in cov.items()}
    one_sigma = radii[0.6827]["radius"]
    out = {}
    for j, name in enumerate(names):
        block = {"scale": float(one_sigma[j]), "mean_sd": float(np.mean(sd[:, j] * one_sigma[j])),
                 "rmse": float(np.sqrt(np.mean((mu[:, j] - true[:, j]) ** 2))), "coverage": {}}
        for q in levels:
            lo, hi = bootstrap._percentiles(res[q][:, j:j + 1], confidence)
            block["coverage"][f"{q:g}"] = {"value": float(np.mean(cov[q][:, j])),
                                           "interval": [float(lo[0]), float(hi[0])],
                                           "radius": float(radii[q]["radius"][j]),
                                           "method": radii[q]["method"]}
        block["curve"] = {"nominal": list(CURVE_LEVELS),
                          "empirical": [float(np.mean(cov[q][:, j])) for q in CURVE_LEVELS]}
        out[name] = block
    return out
