"""The flat-buffer optimizer interface shared by every optimizer of the training loop.

The loop averages all ranks' gradients in ONE contiguous float32 buffer; an optimizer takes that
buffer (``apply_flat(flat, lr, scale)``), splits it per variable, optionally clips the global
norm, and applies its own update rule (``_update``) inside one ``tf.function``. Its state is
plain ``tf.Variable`` s (``slots``) so that checkpoints store it as numpy arrays.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf


class FlatOptimizer:
    """Base class: split + clip a flat gradient buffer, then ``_update`` each variable.

    Parameters
    ----------
    variables : list of tf.Variable
        The model's trainable variables, in the order of the flat gradient buffer.
    slot_names : tuple of str
        Per-variable state arrays of the subclass (e.g. ("m", "v") for Adam), zero-initialised.
    grad_clip : float
        Clip the global L2 norm of the averaged gradient to this value (0: no clipping).
    """

    slot_names: tuple[str, ...] = ()

    def __init__(self, variables, *, grad_clip: float = 0.0):
        self.variables = list(variables)
        self.shapes = [tuple(v.shape) for v in self.variables]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.n_params = int(sum(self.sizes))
        self.grad_clip = float(grad_clip)
        self.slots = {name: [tf.Variable(tf.zeros(s, tf.float32), trainable=False)
                             for s in self.shapes] for name in self.slot_names}
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._apply = tf.function(self._apply_flat)

    @staticmethod
    def decays(variable) -> bool:
        """Whether weight decay applies: kernels (ndim > 1), not biases or batch-norm scales."""
        return len(variable.shape) > 1

    def _update(self, w, g, slots: dict, lr, t):
        """Update one variable ``w`` with its gradient ``g`` (graph code); ``t`` = step + 1."""
        raise NotImplementedError

    def _apply_flat(self, flat_grads, lr, scale):
        grads = tf.split(flat_grads[: self.n_params] * scale, self.sizes)
        if self.grad_clip > 0:
            norm = tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(g)) for g in grads]))
            factor = tf.minimum(1.0, self.grad_clip / tf.maximum(norm, 1e-30))
            grads = [g * factor for g in grads]
        t = tf.cast(self.iterations + 1, tf.float32)
        for i, (w, g, shape) in enumerate(zip(self.variables, grads, self.shapes)):
            self._update(w, tf.reshape(g, shape), {k: v[i] for k, v in self.slots.items()}, lr, t)
        self.iterations.assign_add(1)

    def apply_flat(self, flat_grads, lr: float, scale: float = 1.0) -> None:
        """Apply one update from a flat float32 gradient buffer (length >= ``n_params``).

        ``scale`` multiplies the gradients first (1 / n_ranks turns an allreduce sum into
        the average).
        """
        self._apply(tf.convert_to_tensor(flat_grads, tf.float32), tf.constant(lr, tf.float32),
                    tf.constant(scale, tf.float32))

    def apply(self, grads, lr: float) -> None:
        """Apply one update from a list of per-variable gradients."""
        flat = tf.concat([tf.reshape(tf.convert_to_tensor(g, tf.float32), [-1]) for g in grads], 0)
        self.apply_flat(flat, lr)

    def get_state(self) -> dict[str, np.ndarray]:
        """Optimizer state as numpy arrays (keys <slot><i>, e.g. m0, v0, ..., and iterations)."""
        state = {f"{k}{i}": s.numpy() for k, vs in self.slots.items() for i, s in enumerate(vs)}
        state["iterations"] = np.asarray(self.iterations.numpy())
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore ``get_state`` output (shapes must match)."""
        for k, vs in self.slots.items():
            for i, s in enumerate(vs):
                s.assign(state[f"{k}{i}"])
        self.iterations.assign(int(state["iterations"]))


def adam_step(w, g, m, v, lr, t, *, beta1: float, beta2: float, epsilon: float) -> None:
    """One Adam update of ``w`` with gradient ``g`` (graph code; epsilon-hat form, as Keras):
    ``m, v`` moments updated in place, ``w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)``,
    ``t`` = step + 1. Shared by Adam + LARC and AdamW."""
    alpha = lr * tf.sqrt(1.0 - tf.pow(beta2, t)) / (1.0 - tf.pow(beta1, t))
    m.assign(beta1 * m + (1.0 - beta1) * g)
    v.assign(beta2 * v + (1.0 - beta2) * tf.square(g))
    w.assign_sub(alpha * m / (tf.sqrt(v) + epsilon))
