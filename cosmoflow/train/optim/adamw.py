"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019), as Keras' ``AdamW``.

Per variable, t = step + 1::

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    w = w - eta_t sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps) - eta_t wd w   (kernels only)
"""
from __future__ import annotations

import tensorflow as tf

from cosmoflow.train.optim.base import FlatOptimizer


class AdamW(FlatOptimizer):
    """Adam + decoupled weight decay ``weight_decay`` on kernels (not biases / batch norm)."""

    slot_names = ("m", "v")

    def __init__(self, variables, *, beta1: float, beta2: float, epsilon: float,
                 weight_decay: float, grad_clip: float = 0.0):
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.weight_decay = float(weight_decay)
        super().__init__(variables, grad_clip=grad_clip)

    def _update(self, w, g, slots, lr, t):
        alpha = lr * tf.sqrt(1.0 - tf.pow(self.beta2, t)) / (1.0 - tf.pow(self.beta1, t))
        m, v = slots["m"], slots["v"]
        if self.weight_decay > 0 and self.decays(w):
            w.assign_sub(lr * self.weight_decay * w)
        m.assign(self.beta1 * m + (1.0 - self.beta1) * g)
        v.assign(self.beta2 * v + (1.0 - self.beta2) * tf.square(g))
        w.assign_sub(alpha * m / (tf.sqrt(v) + self.epsilon))
