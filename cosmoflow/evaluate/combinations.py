"""The evaluate stage's combinations of the network with hand-made statistics, saved with the
run so that ``predict`` applies them (``combinations.json`` beside metrics.json).

Two ridges, both fitted in the evaluate job on the training split (docs/model.md, "The
strongest baseline" and "Per simulation"):

- ``network_stats`` (per sample): a ridge on [the network's estimate, the sample's summary
  statistics] (``sample_level``; statistics ``summaries.summary_features`` of the sample: log
  P(k) in ``pk_bins`` shells and the one-point distribution of log(1 + counts), every channel);
- ``network_box`` (per simulation): a ridge on [the mean of the network's estimates over the
  box's samples, the whole box's log band powers (``simulation_level.box_features``), the mean
  of the samples' summary statistics] (``simulation_level``).

The file holds what it takes to recompute their inputs (sample and box side [Mpc/h], voxels
per box side, k shells, quantiles), the fitted ridges (``baselines.RidgePk.state``; float64
values round-trip exactly through JSON) and the sha256 of the network they were fitted to:
applied to another network's estimates they would be wrong, so ``load`` refuses them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cosmoflow.evaluate import baselines, sample_level, simulation_level, summaries

FORMAT = 1
ESTIMATORS = ("network_stats", "network_box")
SPEC_KEYS = ("sample_side", "box_side", "box_voxels", "pk_bins", "quantiles")


@dataclass(frozen=True)
class Combinations:
    """The saved ridges and the geometry of their inputs.

    Attributes
    ----------
    label_names : list of str
        The labels, in the network's output order.
    sample_side, box_side : float
        Side of one sample and of the whole box [Mpc/h].
    box_voxels : int
        Voxels per side of the whole box (the band powers run to its Nyquist frequency).
    pk_bins : int
        k shells of the samples' P(k) (``evaluate.pk_bins``).
    quantiles : tuple of float
        Quantiles of log(1 + counts) (``evaluate.summary.quantiles``).
    model_sha256 : str
        The network whose estimates the ridges take.
    network_stats, network_box : baselines.RidgePk
    """

    label_names: list[str]
    sample_side: float
    box_side: float
    box_voxels: int
    pk_bins: int
    quantiles: tuple[float, ...]
    model_sha256: str
    network_stats: baselines.RidgePk
    network_box: baselines.RidgePk

    def sample_statistics(self, samples) -> np.ndarray:
        """Summary statistics (n, F) of count samples (n, S, S, S, C)."""
        return summaries.summary_features(list(samples), self.sample_side, self.pk_bins, self.quantiles)

    def per_sample(self, network: np.ndarray, stats: np.ndarray) -> np.ndarray:
        """``network_stats`` estimates (n, L) from the network's estimates (n, L) and the
        samples' statistics (n, F), physical units."""
        return self.network_stats.predict(sample_level.network_stats_inputs(network, stats))

    def box_fits(self, box_shape: tuple, voxel_size: float, n_stats: int) -> str | None:
        """None if a box of ``box_shape`` (V, V, V, C) with voxels of ``voxel_size`` [Mpc/h]
        and samples of ``n_stats`` statistics gives the inputs ``network_box`` was fitted on;
        else why not (a sentence). A one-channel network's boxes hold every redshift as a
        channel in evaluate, so one redshift alone does not fit."""
        side = box_shape[0] * voxel_size
        if box_shape[0] != self.box_voxels or not np.isclose(side, self.box_side, rtol=1e-9):
            return (f"a box of {box_shape[0]} voxels ({side:g} Mpc/h), network_box was fitted on "
                    f"whole boxes of {self.box_voxels} voxels ({self.box_side:g} Mpc/h)")
        n_bands = len(simulation_level.octave_edges(self.box_side, self.box_voxels)) - 1
        n_in = len(self.label_names) + n_bands * box_shape[3] + n_stats
        if n_in != self.network_box.n_features:
            return (f"{box_shape[3]} channel(s) give {n_in} inputs, network_box reads "
                    f"{self.network_box.n_features} (the channels of the training boxes)")
        return None

    def per_box(self, network: np.ndarray, box: np.ndarray, stats: np.ndarray) -> np.ndarray:
        """``network_box`` estimate (L,) of one whole box (V, V, V, C) from its samples' network
        estimates (n, L) and statistics (n, F), whose means are the ridge's inputs (check the
        box with ``box_fits`` first)."""
        bands = simulation_level.box_features(np.asarray(box), self.box_side)
        x = simulation_level.network_box_inputs(np.mean(network, axis=0)[None], bands[None],
                                                np.mean(stats, axis=0)[None])
        return self.network_box.predict(x)[0]


def save(path: str | Path, combos: Combinations) -> None:
    """Write ``combos`` as JSON to ``path`` (the caller makes the write atomic)."""
    doc = {"format": FORMAT, "label_names": list(combos.label_names),
           "model_sha256": combos.model_sha256,
           "inputs": {"sample_side": float(combos.sample_side), "box_side": float(combos.box_side),
                      "box_voxels": int(combos.box_voxels), "pk_bins": int(combos.pk_bins),
                      "quantiles": [float(q) for q in combos.quantiles]},
           **{name: getattr(combos, name).state() for name in ESTIMATORS}}
    Path(path).write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")


def load(path: str | Path) -> Combinations:
    """Read ``combinations.json``; ValueError naming the file and the key when it is not one."""
    try:
        doc = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not JSON ({err}); expected evaluate's combinations.json") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path}: format {doc.get('format') if isinstance(doc, dict) else None!r}, "
                         f"expected {FORMAT} (evaluate's combinations.json)")
    missing = [k for k in ("label_names", "model_sha256", "inputs", *ESTIMATORS) if k not in doc]
    missing += [f"inputs.{k}" for k in SPEC_KEYS if k not in doc.get("inputs", {})]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing}")
    spec = doc["inputs"]
    return Combinations(
        label_names=list(doc["label_names"]), sample_side=float(spec["sample_side"]),
        box_side=float(spec["box_side"]), box_voxels=int(spec["box_voxels"]),
        pk_bins=int(spec["pk_bins"]), quantiles=tuple(float(q) for q in spec["quantiles"]),
        model_sha256=str(doc["model_sha256"]),
        **{name: baselines.RidgePk.from_state(doc[name], f"{path}: {name}") for name in ESTIMATORS})
