"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019), as Keras' ``AdamW``.

Per variable, t = step + 1::

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    w = w - eta_t sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps) - eta_t wd w   (kernels only)
"""
from __future__ import annotations

from cosmoflow.train.optim.base import FlatOptimizer, adam_step


class AdamW(FlatOptimizer):
    """Adam + decoupled weight decay ``weight_decay`` on kernels (not biases / batch norm)."""

    slot_names = ("m", "v")

    def __init__(self, variables, *, beta1: float, beta2: float, epsilon: float,
                 weight_decay: float, grad_clip: float = 0.0):
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.weight_decay = float(weight_decay)
        super().__init__(variables, grad_clip=grad_clip)

    def _update(self, w, g, slots, lr, t):
        if self.weight_decay > 0 and self.decays(w):
            w.assign_sub(lr * self.weight_decay * w)
        adam_step(w, g, slots["m"], slots["v"], lr, t,
                  beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon)
