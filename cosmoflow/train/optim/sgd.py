"""SGD with (heavy-ball) momentum and L2 weight decay, as the MLPerf CosmoFlow reference.

Per variable::

    g = g + wd w            (kernels only; coupled L2 decay, the usual one for SGD)
    u = mu u + g
    w = w - eta_t u
"""
from __future__ import annotations

from cosmoflow.train.optim.base import FlatOptimizer


class SGDMomentum(FlatOptimizer):
    """SGD + momentum ``momentum`` + L2 ``weight_decay`` on kernels."""

    slot_names = ("u",)

    def __init__(self, variables, *, momentum: float, weight_decay: float,
                 grad_clip: float = 0.0):
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        super().__init__(variables, grad_clip=grad_clip)

    def _update(self, w, g, slots, lr, t):
        if self.weight_decay > 0 and self.decays(w):
            g = g + self.weight_decay * w
        u = slots["u"]
        u.assign(self.momentum * u + g)
        w.assign_sub(lr * u)
