"""Regression metrics per cosmological parameter (pure numpy).

Two relative errors are reported because the paper divides by the prediction:
``rel_err_true`` = mean |pred - true| / |true| (the usual definition) and
``rel_err_pred`` = mean |pred - true| / |pred| (the paper's section VII-A definition).

Every metric is a function of a few sums over samples (:func:`sufficient_sums`), so the
metrics of any weighted resample of groups (simulations) are a matrix product away: the
bootstrap (:mod:`cosmoflow.evaluate.bootstrap`) and the point values share these formulas.
"""
from __future__ import annotations

import numpy as np

#: Order of the sums along the last axis of :func:`sufficient_sums`.
SUMS = ("n", "err2", "abs_err", "err", "rel_true", "rel_pred", "true", "true2")
#: Metrics of :func:`from_sums`, in table order.
METRICS = ("rel_err_true", "rel_err_pred", "mae", "rmse", "r2", "r2_prior", "bias")
#: R^2 is undefined (NaN) when sum (t - mean t)^2 <= this fraction of sum t^2: the truths are
#: then constant up to rounding (a single simulation), not spread.
R2_CONSTANT_TRUTH = 1e-9


def _check(pred, true, n_names: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if pred.shape != true.shape or pred.ndim != 2 or (n_names is not None and pred.shape[1] != n_names):
        want = n_names if n_names is not None else "n_params"
        raise ValueError(f"pred {pred.shape} and true {true.shape} must both be (n, {want})")
    return pred, true


def sufficient_sums(pred: np.ndarray, true: np.ndarray, groups=None) -> tuple[np.ndarray, np.ndarray]:
    """Per-group sums from which every metric follows.

    Parameters
    ----------
    pred, true : (n, n_params) arrays  Predictions and truths in physical units.
    groups : (n,) array, optional  Group (simulation) of each sample; None: one group.

    Returns
    -------
    sums : (n_groups, n_params, len(SUMS)) array  Over each group's samples: count, sum err^2,
        sum |err|, sum err, sum |err|/|true|, sum |err|/|pred|, sum true, sum true^2
        (err = pred - true).
    uniq : (n_groups,) array  The groups, sorted (the order of the first axis).
    """
    pred, true = _check(pred, true)
    groups = np.zeros(len(pred), int) if groups is None else np.asarray(groups)
    if groups.shape != (len(pred),):
        raise ValueError(f"groups {groups.shape} must be ({len(pred)},)")
    uniq, inv = np.unique(groups, return_inverse=True)
    err = pred - true
    with np.errstate(divide="ignore", invalid="ignore"):
        parts = (np.ones_like(err), err**2, np.abs(err), err, np.abs(err) / np.abs(true),
                 np.abs(err) / np.abs(pred), true, true**2)
    per_sample = np.stack(parts, axis=-1)                         # (n, n_params, n_sums)
    sums = np.zeros((len(uniq),) + per_sample.shape[1:])
    np.add.at(sums, inv, per_sample)
    return sums, uniq


def from_sums(sums: np.ndarray, sd_prior=None) -> dict[str, np.ndarray]:
    """Metrics from (possibly weighted and summed) sufficient sums.

    Parameters
    ----------
    sums : (..., n_params, len(SUMS)) array  e.g. weights (n_resamples, n_groups) @ group sums.
    sd_prior : (n_params,) array, optional  Standard deviation of each parameter's prior, in the
        parameter's units; without it ``r2_prior`` is NaN.

    Returns
    -------
    {metric: (..., n_params) array} for every name in METRICS.

    Notes
    -----
    rmse = sqrt(mean err^2), mae = mean |err|, bias = mean err (pred - true);
    r2 = 1 - sum err^2 / sum (t - mean t)^2 over the same samples (NaN for constant truths);
    r2_prior = 1 - rmse^2 / sd_prior^2 (0: no better than knowing the prior, 1: exact).
    """
    s = {k: sums[..., i] for i, k in enumerate(SUMS)}
    n = s["n"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ss_tot = s["true2"] - s["true"] ** 2 / n
        r2 = np.where(ss_tot > R2_CONSTANT_TRUTH * s["true2"], 1.0 - s["err2"] / ss_tot, np.nan)
        mse = s["err2"] / n
        sd = np.full(n.shape[-1], np.nan) if sd_prior is None else np.asarray(sd_prior, np.float64)
        return {"rel_err_true": s["rel_true"] / n, "rel_err_pred": s["rel_pred"] / n,
                "mae": s["abs_err"] / n, "rmse": np.sqrt(mse), "r2": r2,
                "r2_prior": 1.0 - mse / sd**2, "bias": s["err"] / n}


def parameter_metrics(pred: np.ndarray, true: np.ndarray, names: list[str], sd_prior=None) -> dict:
    """Metrics per parameter for predictions and truths in physical units, shape (n, n_params).

    ``sd_prior`` (n_params,), in the parameters' units, adds a meaningful ``r2_prior``.
    Returns {name: {rel_err_true, rel_err_pred, mae, rmse, r2, r2_prior, bias, n}} (floats).
    """
    pred, true = _check(pred, true, len(names))
    m = from_sums(sufficient_sums(pred, true)[0][0], sd_prior)
    return {name: {**{k: float(m[k][j]) for k in METRICS}, "n": int(len(true))}
            for j, name in enumerate(names)}


def _cell(row: dict, column: str) -> str:
    value = f"{row[column]:.5f}"
    lo_hi = row.get("interval", {}).get(column)
    return value if lo_hi is None else f"{value} [{lo_hi[0]:.5f}, {lo_hi[1]:.5f}]"


def format_table(results: dict[str, dict], names: list[str],
                 columns: tuple[str, ...] = ("rel_err_true", "rel_err_pred", "mae", "rmse", "r2")) -> str:
    """Plain-text table: one row per (predictor, parameter); a metric with an ``interval``
    entry is printed as ``value [low, high]``."""
    cells = [[p, name] + [_cell(m[name], c) for c in columns] for p, m in results.items() for name in names]
    head = ["predictor", "parameter", *columns]
    width = [max(len(r[i]) for r in cells + [head]) + 2 for i in range(len(head))]

    def fmt(r: list[str]) -> str:
        return "".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, width)))

    lines = [fmt(head)]
    lines.append("-" * len(lines[0]))
    return "\n".join(lines + [fmt(r) for r in cells])
