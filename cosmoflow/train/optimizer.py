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


def poly_decay(step: int | float, lr0: float, lr_min: float, decay_steps: int) -> float:
    """Polynomial (power 1) decay: ``(lr0 - lr_min) (1 - t / t_decay) + lr_min``.

    Parameters
    ----------
    step : int
        Global step t (0-based); steps beyond ``decay_steps`` keep ``lr_min``.
    lr0, lr_min : float
        eta_0 and eta_min (paper: 2e-3 and 1e-4).
    decay_steps : int
        t_decay, in steps (> 0).
    """
    if decay_steps <= 0:
        raise ValueError(f"decay_steps={decay_steps}: must be > 0")
    t = min(float(step), float(decay_steps))
    return (lr0 - lr_min) * (1.0 - t / decay_steps) + lr_min


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


class AdamLARC:
    """Adam with per-variable LARC scaling, applied from one flat gradient buffer.

    The state (``m``, ``v``, ``iterations``) is plain ``tf.Variable`` s so that it can be
    checkpointed as numpy arrays (``get_state`` / ``set_state``).

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
    """

    def __init__(self, variables, *, beta1: float, beta2: float, epsilon: float,
                 larc_eta: float, larc_fallback: float):
        self.variables = list(variables)
        self.shapes = [tuple(v.shape) for v in self.variables]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.n_params = int(sum(self.sizes))
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.larc_eta, self.larc_fallback = float(larc_eta), float(larc_fallback)
        self.m = [tf.Variable(tf.zeros(s, tf.float32), trainable=False) for s in self.shapes]
        self.v = [tf.Variable(tf.zeros(s, tf.float32), trainable=False) for s in self.shapes]
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._apply = tf.function(self._apply_flat)

    def _apply_flat(self, flat_grads, lr, scale):
        grads = tf.split(flat_grads[: self.n_params] * scale, self.sizes)
        t = tf.cast(self.iterations + 1, tf.float32)
        alpha = lr * tf.sqrt(1.0 - tf.pow(self.beta2, t)) / (1.0 - tf.pow(self.beta1, t))
        for w, g, m, v, shape in zip(self.variables, grads, self.m, self.v, self.shapes):
            g = tf.reshape(g, shape)
            w_norm = tf.norm(w)
            g_norm = tf.norm(g)
            eta_star = tf.where((w_norm > 0.0) & (g_norm > 0.0),
                                self.larc_eta * w_norm / tf.maximum(g_norm, 1e-30),
                                self.larc_fallback)
            g = tf.minimum(eta_star, 1.0) * g
            m.assign(self.beta1 * m + (1.0 - self.beta1) * g)
            v.assign(self.beta2 * v + (1.0 - self.beta2) * tf.square(g))
            w.assign_sub(alpha * m / (tf.sqrt(v) + self.epsilon))
        self.iterations.assign_add(1)
        return alpha

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
        """Optimizer state as numpy arrays (keys m0.., v0.., iterations)."""
        state = {f"m{i}": m.numpy() for i, m in enumerate(self.m)}
        state.update({f"v{i}": v.numpy() for i, v in enumerate(self.v)})
        state["iterations"] = np.asarray(self.iterations.numpy())
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore ``get_state`` output (shapes must match)."""
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            m.assign(state[f"m{i}"])
            v.assign(state[f"v{i}"])
        self.iterations.assign(int(state["iterations"]))
