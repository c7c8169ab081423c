"""Training losses, one per output head (cosmoflow.model.heads), in TensorFlow.

Each loss takes the raw network outputs ``pred`` [B, k L] and the normalised labels ``y``
[B, L] and returns the batch mean (a scalar tensor).

- ``point``: mean squared error over the batch and the labels.
- ``gaussian``: the Gaussian negative log-likelihood per label, 0.5 (log s^2 + (y - mu)^2 / s^2)
  (the constant 0.5 log 2 pi left out), weighted by stop_gradient(s^2)^beta: the "beta-NLL" of
  Seitzer et al. (ICLR 2022). beta = 0 is the plain NLL, whose gradient on the mean is scaled by
  1 / s^2, so that badly fitted samples (large s) stop pulling the mean; beta = 1 gives the mean
  the gradient of the squared error; 0.5 (the paper's advice, ``train.nll_beta``) is between.
  The validation loss is always the plain NLL (beta = 0): a proper score of mean and width.
"""
from __future__ import annotations

import tensorflow as tf

from cosmoflow.model import heads


def mse(pred, y):
    """Mean squared error [normalised label units^2]."""
    return tf.reduce_mean(tf.square(pred - y))


def gaussian_nll(pred, y, beta: float = 0.0):
    """beta-weighted Gaussian NLL of outputs [means | log-variances] (see the module docstring)."""
    n = y.shape[-1]
    mu, logvar = pred[..., :n], tf.clip_by_value(pred[..., n:], *heads.LOGVAR_RANGE)
    nll = 0.5 * (logvar + tf.square(y - mu) * tf.exp(-logvar))
    if beta:
        nll = nll * tf.stop_gradient(tf.exp(beta * logvar))
    return tf.reduce_mean(nll)


def for_head(head: str | None, beta: float = 0.0, *, validation: bool = False):
    """The loss function ``f(pred, y)`` of a head; ``validation``: the NLL without beta."""
    name = heads.check(head)
    if name == "point":
        return mse
    b = 0.0 if validation else float(beta)
    return lambda pred, y: gaussian_nll(pred, y, b)
