"""A trained run as ``predict`` needs it: the model, the label normalisation, the input
normalisation and the input geometry the network was trained on.

What the train stage writes and where ``predict`` finds each item:

- ``model.keras``, ``label_norm.json`` (label names, offset and scale: y = offset + scale y_n):
  in the folder given (``results/train`` or a run folder ``results/train/runs/<id>-<n>``);
- the input normalisation (``data.input_norm``): the run folder's ``run.json`` (its identity)
  or ``config.yaml``; for ``results/train`` the run folder is ``runs/latest`` (the run that
  published it: its ``model.keras`` must be byte-identical);
- the geometry (voxel side, sample side, channels, redshifts, mean count per voxel): the
  training split's TFRecords manifest, recorded in ``run.json`` (``sources.train``) or given;
  it must be the manifest the run was trained on (its digest is in the run's identity).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from cosmoflow.data.reader import read_manifest
from cosmoflow.data.tfrecord import sha256_file
from cosmoflow.predict.geometry import Expected, expected_from_manifest
from cosmoflow.train import runs


@dataclass(frozen=True)
class TrainedRun:
    """Everything ``predict`` reads of a trained run.

    Attributes
    ----------
    model_path : Path
        ``model.keras``.
    label_names : list of str
    label_norm : dict
        ``offset`` and ``scale`` per label: y = offset + scale * y_norm (physical units).
    input_norm : str
        "log1p" (log(1 + counts)) or "mean" (counts / mean count of the training boxes).
    expected : Expected
        The input geometry of the training samples.
    manifest_path : str
        The training split's manifest the geometry comes from.
    run_dir : Path or None
        The run folder (run.json, config.yaml).
    """

    model_path: Path
    label_names: list[str]
    label_norm: dict
    input_norm: str
    expected: Expected
    manifest_path: str
    run_dir: Path | None


def load(run: str | Path, manifest: str | Path | None = None) -> TrainedRun:
    """Read a trained run (see the module docstring); ValueError / FileNotFoundError name the
    file that is missing or does not fit."""
    run = Path(run)
    model_path = run / "model.keras"
    for f in (model_path, run / "label_norm.json"):
        if not f.is_file():
            raise FileNotFoundError(f"{f}: not found ({run} is not a trained run: expected "
                                    "model.keras and label_norm.json, the train stage's outputs)")
    labels = json.loads((run / "label_norm.json").read_text())
    run_dir = run_folder(run)
    record = runs.read_run(run_dir) if run_dir else {}
    input_norm = (record.get("identity", {}).get("data", {}).get("input_norm")
                  or _config_input_norm(run_dir))
    if input_norm not in ("log1p", "mean"):
        raise ValueError(f"{run}: the run's data.input_norm is {input_norm!r} (run folder "
                         f"{run_dir}), expected log1p or mean")

    if manifest is None:
        manifest = record.get("sources", {}).get("train")
        if manifest is None:
            raise ValueError(f"{run_dir / 'run.json'}: no training manifest recorded "
                             "(sources.train): give it with --manifest")
        if not Path(manifest).exists():
            raise FileNotFoundError(f"{manifest}: the training manifest recorded in "
                                    f"{run_dir / 'run.json'} is not there (paths are relative "
                                    "to where training ran): give it with --manifest")
    m = read_manifest(manifest)
    trained_on = record.get("identity", {}).get("inputs", {}).get("train")
    if trained_on is not None and runs.manifest_digest(m["path"]) != trained_on:
        raise ValueError(f"{m['path']}: not the training manifest of run {run_dir} (its digest "
                         f"differs from the one in run.json: {trained_on[:12]}...)")
    if list(m["label_names"]) != list(labels["label_names"]):
        raise ValueError(f"{m['path']}: labels {m['label_names']}, but {run / 'label_norm.json'} "
                         f"has {labels['label_names']}")
    return TrainedRun(model_path=model_path, label_names=list(labels["label_names"]),
                      label_norm=labels["label_norm"], input_norm=input_norm,
                      expected=expected_from_manifest(m, m["path"]), manifest_path=m["path"],
                      run_dir=run_dir)


def run_folder(run: Path) -> Path:
    """The run folder of ``run``: itself when it holds run.json, else ``runs/latest`` (the run
    the train stage published to ``run``, checked by the model's sha256)."""
    if (run / "run.json").is_file():
        return run
    latest = run / "runs" / "latest"
    if not (latest / "run.json").is_file():
        raise FileNotFoundError(f"{run}: neither a run folder (run.json) nor a train stage output "
                                f"with {latest}/run.json: the run's input normalisation and "
                                "training data are unknown; give the run folder "
                                "(results/train/runs/<id>-<n>)")
    if sha256_file(run / "model.keras") != sha256_file(latest / "model.keras"):
        raise ValueError(f"{run / 'model.keras'} differs from {latest / 'model.keras'}: give the "
                         "run folder it came from (results/train/runs/<id>-<n>)")
    return latest


def _config_input_norm(run_dir: Path | None):
    path = run_dir / "config.yaml" if run_dir else None
    if path is None or not path.is_file():
        return None
    return (yaml.safe_load(path.read_text()) or {}).get("data", {}).get("input_norm")


def load_model(run: TrainedRun):
    """The Keras model (uncompiled, as evaluate loads it); ValueError if its input shape is not
    the training samples' or its outputs are not one or two per label."""
    from cosmoflow.model.power_features import load

    model = load(run.model_path)
    e = run.expected
    want = (e.sample_side,) * 3 + (e.n_channels,)
    got = tuple(model.input_shape[1:])
    if got != want:
        raise ValueError(f"{run.model_path}: input shape {got}, the training manifest "
                         f"{run.manifest_path} has samples {want}")
    n_out, n_labels = int(model.output_shape[-1]), len(run.label_names)
    if n_out not in (n_labels, 2 * n_labels):
        raise ValueError(f"{run.model_path}: {n_out} outputs, expected {n_labels} (estimates) or "
                         f"{2 * n_labels} (estimates and log-variances) for labels {run.label_names}")
    return model


def calibration_scales(metrics_json: str | Path, label_names: list[str]):
    """Evaluate's width calibration of this network: (per-sample scales (P,), per-simulation
    scales (P,)), read from the ``uncertainty`` block of its metrics.json.

    ValueError naming the file when it has no such block (a point network, or an evaluation made
    before widths existed) or lacks one of ``label_names``.
    """
    import numpy as np

    with open(metrics_json) as fh:
        unc = json.load(fh).get("uncertainty")
    if not unc:
        raise ValueError(f"{metrics_json}: no 'uncertainty' block (evaluate writes one for a "
                         "network with a gaussian head, model.head: gaussian)")
    out = []
    for level in ("per_sample", "per_simulation"):
        missing = [n for n in label_names if n not in unc.get(level, {})]
        if missing:
            raise ValueError(f"{metrics_json}: uncertainty.{level} has no scale for {missing}; "
                             f"the network's labels are {label_names}")
        out.append(np.array([unc[level][n]["scale"] for n in label_names], np.float64))
    return out[0], out[1]
