"""Output heads: what the network's last layer means (``model.head``).

- ``point`` (default): one linear output per label, the estimate (normalised label units),
  trained by mean squared error.
- ``gaussian``: two linear outputs per label, a mean and a log-variance (natural log of the
  variance, normalised label units), trained by the Gaussian negative log-likelihood
  (cosmoflow.train.losses); the width of an estimate is exp(logvar / 2).

Outputs are laid out [means (L) | log-variances (L)] for L labels. Pure functions on arrays or
tensors (numpy or TensorFlow: only slicing and exp).
"""
from __future__ import annotations

import numpy as np

#: Outputs per label of each head.
HEADS = {"point": 1, "gaussian": 2}
#: Log-variances are clipped to this range [normalised label units^2] before use: a width
#: from 4.5e-5 to 150 times the label range's half-width, far outside what a network predicts,
#: so the clip only keeps exp() finite early in training.
LOGVAR_RANGE = (-20.0, 10.0)


def check(head: str | None) -> str:
    """The head's name ("point" for None); ValueError naming ``model.head`` if unknown."""
    name = "point" if head is None else head
    if name not in HEADS:
        raise ValueError(f"model.head: got {head!r}, expected one of {sorted(HEADS)}")
    return name


def n_outputs(head: str | None, n_labels: int) -> int:
    """Width of the network's output layer for ``n_labels`` labels."""
    return HEADS[check(head)] * int(n_labels)


def split(outputs, n_labels: int):
    """(means [..., L], log-variances [..., L] or None) of raw network outputs [..., k L]."""
    if outputs.shape[-1] == n_labels:
        return outputs, None
    if outputs.shape[-1] != 2 * n_labels:
        raise ValueError(f"network output has {outputs.shape[-1]} columns, expected {n_labels} "
                         f"(point head) or {2 * n_labels} (gaussian head) for {n_labels} labels")
    return outputs[..., :n_labels], outputs[..., n_labels:]


def width(logvar: np.ndarray) -> np.ndarray:
    """Standard deviation [normalised label units] of log-variances (clipped, float64)."""
    return np.exp(0.5 * np.clip(np.asarray(logvar, np.float64), *LOGVAR_RANGE))


def estimates(outputs: np.ndarray, label_norm: dict, n_labels: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Raw outputs (n, L) or (n, 2 L) -> (means, widths or None for a point head) in physical
    units: means ``offset + scale mu``, widths ``width(logvar) |scale|`` (uncalibrated), with
    ``label_norm`` the labels' {"offset", "scale"}. evaluate and predict both use this."""
    from cosmoflow.data.tfrecord import denormalise_labels

    mu, logvar = split(outputs, n_labels)
    sd = None
    if logvar is not None:
        sd = width(logvar) * np.abs(np.asarray(label_norm["scale"], np.float64))
    return denormalise_labels(mu, label_norm), sd
