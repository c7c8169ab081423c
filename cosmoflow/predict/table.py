"""The predictions table (CSV): one row per sample, then one row per input.

Columns (``header``): ``input`` (the input as named on the command line), ``row`` (``sample``
or ``input``), ``z`` (the channels' redshifts, space-separated), ``sample`` (the sub-volume
index k = (i n + j) n + l of the pipeline, n = V / S; empty on input rows), ``n_samples`` (1, or
the input's number of samples), one column per label (the estimate; on input rows the mean over
the input's samples) and ``<label>_sd`` per label (the width: a standard deviation, empty when
the network has no width output). Input rows of a network with widths hold evaluate's
per-simulation combination (`cosmoflow.evaluate.calibration.combine`): the precision-weighted
mean of the samples and the width (sum 1 / sd_i^2)^(-1/2); without widths, the plain mean.
With evaluate's calibration (``--calibration``), sample widths are multiplied by its per-sample
scale and input widths by its per-simulation scale, as in evaluate. With evaluate's
combinations (``--combinations``) two groups of columns follow: ``network_stats_<label>`` (the
network + the sample's statistics, on sample rows) and ``network_box_<label>`` (the network +
the whole box, on input rows of whole boxes of the training geometry; empty otherwise). Values
in physical units, written with full float64 precision (``repr``).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cosmoflow.evaluate.calibration import combine
from cosmoflow.io import atomic_path
from cosmoflow.predict.core import Estimates

#: The columns before the per-label ones.
ID_COLUMNS = ("input", "row", "z", "sample", "n_samples")


#: Evaluate's combinations (`cosmoflow.evaluate.combinations`): their columns' prefixes.
COMBINED = ("network_stats", "network_box")


@dataclass
class Combined:
    """Evaluate's combinations on one input, physical units: ``per_sample`` (n, P) the network +
    each sample's statistics; ``per_input`` (P,) the network + the whole box, or None when the
    input is not a whole box of the training geometry."""

    per_sample: np.ndarray
    per_input: np.ndarray | None


@dataclass
class InputResult:
    """The estimates of one input's samples (sample k = row k); ``input_scale`` multiplies the
    input row's combined width (evaluate's per-simulation calibration; 1 without);
    ``combined``: evaluate's combinations, when given."""

    source: str
    redshifts: tuple[float, ...]
    estimates: Estimates
    input_scale: np.ndarray | float = 1.0
    combined: Combined | None = None


def header(label_names: list[str], combined: bool = False) -> list[str]:
    """The CSV's columns for these labels (with the combinations' columns when ``combined``)."""
    extra = [f"{c}_{n}" for c in COMBINED for n in label_names] if combined else []
    return [*ID_COLUMNS, *label_names, *(f"{n}_sd" for n in label_names), *extra]


def input_summary(est: Estimates, scale: np.ndarray | float = 1.0
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """(estimate (P,), its width (P,) or None) of one input from its samples: the plain mean
    without widths; else the precision-weighted mean and (sum 1 / sd_i^2)^(-1/2) x ``scale``."""
    if est.sd is None:
        return est.mean.mean(axis=0), None
    mean, sd, _ = combine(est.mean, est.sd, np.zeros(len(est.mean), int))
    return mean[0], sd[0] * scale


def rows(result: InputResult, combined: bool = False) -> list[list]:
    """One input's rows: its samples, then the input (with the combinations' columns when
    ``combined``; empty where the input has none)."""
    z = " ".join(f"{v:g}" for v in result.redshifts)
    est = result.estimates
    n_labels = est.mean.shape[1]
    empty = [""] * n_labels
    c = result.combined
    out = []
    for k, m in enumerate(est.mean):
        sd = empty if est.sd is None else [float(v) for v in est.sd[k]]
        extra = (([*map(float, c.per_sample[k])] if c else empty) + empty) if combined else []
        out.append([result.source, "sample", z, k, 1, *map(float, m), *sd, *extra])
    mean, sd = input_summary(est, result.input_scale)
    extra = (empty + ([*map(float, c.per_input)] if c and c.per_input is not None else empty)
             if combined else [])
    out.append([result.source, "input", z, "", len(est.mean), *map(float, mean),
                *(empty if sd is None else map(float, sd)), *extra])
    return out


def write_csv(path: str | Path, label_names: list[str], results: list[InputResult]) -> None:
    """Write the table atomically (a killed run leaves no partial file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    combined = any(r.combined is not None for r in results)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header(label_names, combined))
        for r in results:
            w.writerows(rows(r, combined))
