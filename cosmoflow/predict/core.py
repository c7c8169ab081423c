"""The network on count samples, in evaluate's float path (bit-identical estimates).

Evaluate (`cosmoflow.evaluate.stage.predict`) decodes each sample to float32 counts, applies
the input normalisation per sample with TensorFlow (``log1p(x)`` or ``x / mean_count``), stacks
batches, calls ``model(x, training=False)`` and maps the normalised outputs back with
``offset + scale * y`` in float64 (`cosmoflow.data.tfrecord.denormalise_labels`). This module
does the same operations in the same order and precision.

Outputs: P columns (one estimate per label) or 2P (a gaussian head, `cosmoflow.model.heads`:
P estimates, then P log-variances, natural log of the variance in normalised label units); the
width of an estimate is then ``exp(logvar / 2) * |scale|`` [the label's units], before
calibration (`cosmoflow.predict.table`, ``--calibration``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosmoflow.model import heads

#: Samples per model call: evaluate's (`cosmoflow.evaluate.stage.predict`).
BATCH_SIZE = 4


@dataclass
class Estimates:
    """The network's estimates of one input's samples, physical units.

    Attributes
    ----------
    mean : ndarray (n, P), float64
        Estimates (the means of a network with a width output).
    sd : ndarray (n, P), float64, or None
        Widths (standard deviations, uncalibrated) when the network outputs log-variances.
    """

    mean: np.ndarray
    sd: np.ndarray | None


def normalise(sample: np.ndarray, input_norm: str, mean_count: float):
    """One sample (S, S, S, C) of counts -> the network's float32 input tensor.

    ``log1p``: log(1 + x); ``mean``: x / mean_count (mean_count the training boxes' mean count
    per voxel); the reader's operations on float32 counts.
    """
    import tensorflow as tf

    x = tf.constant(np.asarray(sample, np.float32))
    if input_norm == "log1p":
        return tf.math.log1p(x)
    if input_norm == "mean":
        return x / float(mean_count)
    raise ValueError(f"input_norm must be 'log1p' or 'mean', got {input_norm!r}")


def network_outputs(model, samples: np.ndarray, input_norm: str, mean_count: float,
                    batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Raw outputs (n, P or 2P), float32, of the samples (n, S, S, S, C) of counts."""
    import tensorflow as tf

    outs = []
    for i in range(0, len(samples), batch_size):
        x = tf.stack([normalise(s, input_norm, mean_count) for s in samples[i:i + batch_size]])
        outs.append(model(x, training=False).numpy())
    return np.concatenate(outs)


def estimates(outputs: np.ndarray, label_norm: dict, n_labels: int) -> Estimates:
    """Raw outputs (n, P) or (n, 2P) -> estimates and widths in physical units (the widths as
    evaluate computes them before its calibration: `cosmoflow.model.heads.estimates`)."""
    mean, sd = heads.estimates(outputs, label_norm, n_labels)
    return Estimates(mean=mean, sd=sd)


def predict_samples(model, samples: np.ndarray, *, input_norm: str, mean_count: float,
                    label_norm: dict, n_labels: int, batch_size: int = BATCH_SIZE) -> Estimates:
    """Estimates (and widths) of samples (n, S, S, S, C) of counts, physical units."""
    return estimates(network_outputs(model, samples, input_norm, mean_count, batch_size),
                     label_norm, n_labels)
