"""Learning-rate schedules: pure functions of the global step (0-based).

``learning_rate`` = linear warm-up from ``lr_min`` to ``lr`` over ``warmup_steps``, then the
decay ``kind`` from ``lr`` to ``lr_min`` over ``decay_steps`` (counted after the warm-up),
then ``lr_min``.
"""
from __future__ import annotations

import math


def poly_decay(step: int | float, lr0: float, lr_min: float, decay_steps: int) -> float:
    """Polynomial (power 1) decay, the paper's: ``(lr0 - lr_min) (1 - t / t_decay) + lr_min``.

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


def cosine_decay(step: int | float, lr0: float, lr_min: float, decay_steps: int) -> float:
    """Cosine decay: ``lr_min + (lr0 - lr_min) (1 + cos(pi t / t_decay)) / 2``."""
    if decay_steps <= 0:
        raise ValueError(f"decay_steps={decay_steps}: must be > 0")
    t = min(float(step), float(decay_steps))
    return lr_min + 0.5 * (lr0 - lr_min) * (1.0 + math.cos(math.pi * t / decay_steps))


DECAYS = {"poly": poly_decay, "cosine": cosine_decay}


def learning_rate(step: int, *, kind: str, lr: float, lr_min: float, decay_steps: int,
                  warmup_steps: int = 0) -> float:
    """Warm-up then decay (see the module docstring); ``kind`` "poly" or "cosine"."""
    if kind not in DECAYS:
        raise ValueError(f"train.schedule: got {kind!r}, expected one of {sorted(DECAYS)}")
    if step < warmup_steps:
        return lr_min + (lr - lr_min) * (step + 1) / warmup_steps
    return DECAYS[kind](step - warmup_steps, lr, lr_min, decay_steps)
