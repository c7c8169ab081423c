"""Adam + LARC + polynomial decay, the paper's optimizer (Mathuriya et al. 2018, section III-B).

Formulas (t = global step, 0-based; l = one trainable variable, i.e. a layer's kernel or bias)::

    eta_t      = (eta_0 - eta_min) (1 - min(t, t_decay) / t_decay) + eta_min
    v, g       = ||w_l||_2, ||grad_l||_2
    eta*_l     = larc_eta * v / g      if v != 0 and g != 0, else larc_fallback (6.25e-5)
    grad*_l    = min(eta*_l, 1) * grad_l
    w_l        = Adam(w_l, grad*_l, eta_t)

Adam is the epsilon-hat form of Kingma & Ba (2015, end of section 2), which is also what
TensorFlow / Keras implement::

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    w = w - eta_t sqrt(1 - b2^(t+1)) / (1 - b1^(t+1)) * m / (sqrt(v) + eps_hat)

"Layer" is taken per variable (kernel and bias separately), as in the LARC implementations
the paper builds on (NVIDIA / Horovod LARC), so a zero-initialised bias gets the fallback rate.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from cosmoflow.train.optim.base import FlatOptimizer, adam_step


def larc_trust(w_norm: float, g_norm: float, larc_eta: float, fallback: float) -> float:
    """Clipped LARC local rate ``min(eta*, 1)`` for one layer (numpy / float reference)."""
    if w_norm != 0.0 and g_norm != 0.0:
        eta_star = larc_eta * w_norm / g_norm
    else:
        eta_star = fallback
    return min(eta_star, 1.0)


def adam_larc_reference(w: list[np.ndarray], g: list[np.ndarray], m: list[np.ndarray],
                        v: list[np.ndarray], step: int, lr: float, *, beta1: float, beta2: float,
                        epsilon: float, larc_eta: float, larc_fallback: float):
    """One Adam + LARC step in float64 numpy (the reference the TF version is tested against).

    Returns new (w, m, v) lists; ``step`` is the 0-based index of this update.
    """
    out_w, out_m, out_v = [], [], []
    t = step + 1
    alpha = lr * np.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)
    for wi, gi, mi, vi in zip(w, g, m, v):
        trust = larc_trust(float(np.linalg.norm(wi)), float(np.linalg.norm(gi)), larc_eta,
                           larc_fallback)
        gs = trust * gi
        mi = beta1 * mi + (1.0 - beta1) * gs
        vi = beta2 * vi + (1.0 - beta2) * gs * gs
        out_w.append(wi - alpha * mi / (np.sqrt(vi) + epsilon))
        out_m.append(mi)
        out_v.append(vi)
    return out_w, out_m, out_v


class AdamLARC(FlatOptimizer):
    """Adam with per-variable LARC scaling, applied from one flat gradient buffer.

    Parameters
    ----------
    variables : list of tf.Variable
        The model's trainable variables, in the order of the flat gradient buffer.
    beta1, beta2, epsilon : float
        Adam coefficients (paper: 0.9, 0.999, 1e-8).
    larc_eta : float
        LARC trust coefficient (paper: 0.002).
    larc_fallback : float
        Local rate used when a weight or gradient norm is zero (paper: 6.25e-5).
    grad_clip : float
        Global-norm clipping of the averaged gradient before LARC (0: off, the paper).
    """

    slot_names = ("m", "v")

    def __init__(self, variables, *, beta1: float, beta2: float, epsilon: float,
                 larc_eta: float, larc_fallback: float, grad_clip: float = 0.0):
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.larc_eta, self.larc_fallback = float(larc_eta), float(larc_fallback)
        super().__init__(variables, grad_clip=grad_clip)

    def _update(self, w, g, slots, lr, t):
        w_norm = tf.norm(w)
        g_norm = tf.norm(g)
        eta_star = tf.where((w_norm > 0.0) & (g_norm > 0.0),
                            self.larc_eta * w_norm / tf.maximum(g_norm, 1e-30),
                            self.larc_fallback)
        adam_step(w, tf.minimum(eta_star, 1.0) * g, slots["m"], slots["v"], lr, t,
                  beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon)
