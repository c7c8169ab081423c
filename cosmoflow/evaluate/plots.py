"""Evaluation plots (matplotlib, Agg backend, PNG): loss curves (paper Fig. 5), predicted vs
true (Fig. 6), error histograms, example sub-volumes, and simulated vs linear P(k)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..io import atomic_path  # noqa: E402

LATEX = {"Omega_m": r"$\Omega_M$", "sigma_8": r"$\sigma_8$", "n_s": r"$n_s$", "H0": r"$H_0$",
         "A_s": r"$A_s$", "h": r"$h$", "Omega_b": r"$\Omega_b$"}


def _save(fig, path: str | Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)


def loss_curves(history: dict[str, np.ndarray], path: str | Path) -> None:
    """Training and validation loss per epoch; history has 'epoch', 'loss', 'val_loss'."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(history["epoch"], history["loss"], "o-", label="training")
    ax.plot(history["epoch"], history["val_loss"], "s-", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (normalised labels: MSE, or Gaussian NLL)")
    if np.all(history["loss"] > 0) and np.all(history["val_loss"] > 0):
        ax.set_yscale("log")   # a Gaussian NLL can be negative
    ax.legend()
    ax.set_title("Loss per epoch")
    _save(fig, path)


def predicted_vs_true(pred: np.ndarray, true: np.ndarray, names: list[str], path: str | Path,
                      baseline: np.ndarray | None = None, baseline_labels: list[str] | None = None,
                      rmse: dict | None = None) -> None:
    """One panel per parameter: prediction against truth with the identity line.

    Parameters
    ----------
    pred, true : (n, n_params) network predictions and truths, physical units.
    baseline : (n, n_params), optional  A baseline's predictions, column j from the baseline
        named ``baseline_labels[j]`` (e.g. the strongest baseline of each parameter).
    rmse : {predictor: {name: (rmse, [low, high])}}, optional  Shown in each panel's title for
        the network and that panel's baseline.
    """
    labels = baseline_labels or ["baseline"] * len(names)
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 4.1))
    for j, (ax, name) in enumerate(zip(np.atleast_1d(axes), names)):
        lo, hi = float(true[:, j].min()), float(true[:, j].max())
        pad = 0.05 * (hi - lo + 1e-12)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=1, label="identity")
        if baseline is not None:
            ax.plot(true[:, j], baseline[:, j], "x", color="0.6", ms=4, label=f"best baseline: {labels[j]}")
        ax.plot(true[:, j], pred[:, j], "o", ms=4, label="network")
        ax.set_xlabel(f"true {LATEX.get(name, name)}")
        ax.set_ylabel(f"predicted {LATEX.get(name, name)}")
        if rmse is not None:
            shown = ["network"] + ([labels[j]] if baseline is not None else [])
            ax.set_title("\n".join(f"{p} RMSE {rmse[p][name][0]:.4f} [{rmse[p][name][1][0]:.4f}, "
                                   f"{rmse[p][name][1][1]:.4f}]" for p in shown), fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def error_histograms(pred: np.ndarray, true: np.ndarray, names: list[str], path: str | Path) -> None:
    """Histogram of the relative error (pred - true) / true per parameter."""
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2))
    for j, (ax, name) in enumerate(zip(np.atleast_1d(axes), names)):
        rel = (pred[:, j] - true[:, j]) / true[:, j]
        ax.hist(rel, bins=max(5, min(30, len(rel) // 2)), color="C0", alpha=0.8)
        ax.axvline(0, color="k", lw=1)
        ax.set_xlabel(f"relative error of {LATEX.get(name, name)}")
    fig.tight_layout()
    _save(fig, path)


def example_subvolumes(cubes: list[np.ndarray], labels: list[dict], path: str | Path,
                       redshifts: tuple[float, ...] = (0.0,)) -> None:
    """Projected log counts (sum over one axis) of a few sub-volumes, titled with their labels.

    Cubes are (S, S, S) or (S, S, S, C): one row per channel, labelled with its redshift.
    """
    cubes = [c if c.ndim == 4 else c[..., None] for c in cubes]
    n, rows = len(cubes), cubes[0].shape[3]
    fig, axes = plt.subplots(rows, n, figsize=(3.2 * n, 3.4 * rows), squeeze=False)
    for col, (cube, lab) in enumerate(zip(cubes, labels)):
        for row in range(rows):
            ax = axes[row, col]
            ax.imshow(np.log1p(cube[..., row].sum(axis=2)), cmap="magma", origin="lower")
            if row == 0:
                ax.set_title(", ".join(f"{LATEX.get(k, k)}={v:.3f}" for k, v in lab.items()),
                             fontsize=8)
            if col == 0:
                ax.set_ylabel(f"z = {redshifts[row]:g}")
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    _save(fig, path)


def power_vs_linear(curves: list[tuple[np.ndarray, np.ndarray, np.ndarray]], z: float,
                    path: str | Path) -> None:
    """Measured P(k) of simulations over linear theory P_lin(k) D(z)^2; curves are (k, pk, pk_lin)."""
    fig, (ax, rx) = plt.subplots(2, 1, figsize=(5, 5), sharex=True, height_ratios=(2, 1))
    for i, (k, pk, lin) in enumerate(curves):
        ax.loglog(k, pk, color=f"C{i % 10}", lw=1)
        ax.loglog(k, lin, color=f"C{i % 10}", lw=1, ls="--")
        rx.semilogx(k, pk / lin, color=f"C{i % 10}", lw=1)
    rx.axhline(1, color="k", lw=1)
    ax.set_ylabel(r"$P(k)$ [(Mpc/h)$^3$]")
    rx.set_ylabel("sim / linear")
    rx.set_xlabel(r"$k$ [h/Mpc]")
    ax.set_title(f"z = {z:.2f}: simulations (solid) vs linear theory (dashed)")
    _save(fig, path)


def calibration_curves(report: dict, names: list[str], path: str | Path) -> None:
    """Empirical against nominal coverage of the calibrated intervals, per parameter, per sample
    and per simulation (``report``: cosmoflow.evaluate.calibration.report per level)."""
    fig, axes = plt.subplots(1, len(names), figsize=(3.4 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        ax.plot([0, 1], [0, 1], "k:", lw=1, label="ideal")
        for level, marker in (("per_sample", "o-"), ("per_simulation", "s--")):
            c = report[level][name]["curve"]
            ax.plot(c["nominal"], c["empirical"], marker, ms=3, label=level.replace("_", " "))
        ax.set_xlabel("nominal coverage")
        ax.set_title(LATEX.get(name, name))
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("empirical coverage (test)")
    axes[0][0].legend(fontsize=8)
    _save(fig, path)
