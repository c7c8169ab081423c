"""Regression metrics per cosmological parameter (pure numpy).

Two relative errors are reported because the paper divides by the prediction:
``rel_err_true`` = mean |pred - true| / |true| (the usual definition) and
``rel_err_pred`` = mean |pred - true| / |pred| (the paper's section VII-A definition).
"""
from __future__ import annotations

import numpy as np


def parameter_metrics(pred: np.ndarray, true: np.ndarray, names: list[str]) -> dict:
    """Metrics per parameter for predictions and truths in physical units, shape (n, n_params).

    Returns {name: {rel_err_true, rel_err_pred, mae, rmse, r2, bias, n}} (floats).
    """
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if pred.shape != true.shape or pred.ndim != 2 or pred.shape[1] != len(names):
        raise ValueError(f"pred {pred.shape} and true {true.shape} must both be (n, {len(names)})")
    out = {}
    for j, name in enumerate(names):
        p, t = pred[:, j], true[:, j]
        err = p - t
        ss_res = float(np.sum(err**2))
        ss_tot = float(np.sum((t - t.mean()) ** 2))
        out[name] = {
            "rel_err_true": float(np.mean(np.abs(err) / np.abs(t))),
            "rel_err_pred": float(np.mean(np.abs(err) / np.abs(p))),
            "mae": float(np.mean(np.abs(err))),
            "rmse": float(np.sqrt(np.mean(err**2))),
            "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
            "bias": float(np.mean(err)),
            "n": int(len(t)),
        }
    return out


def format_table(results: dict[str, dict], names: list[str],
                 columns: tuple[str, ...] = ("rel_err_true", "rel_err_pred", "mae", "rmse", "r2")) -> str:
    """Plain-text table: one row per (predictor, parameter)."""
    head = f"{'predictor':<14}{'parameter':<10}" + "".join(f"{c:>14}" for c in columns)
    lines = [head, "-" * len(head)]
    for predictor, metrics in results.items():
        for name in names:
            row = metrics[name]
            lines.append(f"{predictor:<14}{name:<10}" + "".join(f"{row[c]:>14.5f}" for c in columns))
    return "\n".join(lines)
