"""Optimizers (one module each) and learning-rate schedules of the training loop.

``make_optimizer(settings, variables)`` picks ``train.optimizer``: ``adam_larc`` (the paper's
Adam + LARC), ``adamw`` (decoupled weight decay) or ``sgd`` (momentum, L2 decay, MLPerf's).
"""
from __future__ import annotations

from cosmoflow.train.optim.adam_larc import AdamLARC, adam_larc_reference, larc_trust
from cosmoflow.train.optim.adamw import AdamW
from cosmoflow.train.optim.base import FlatOptimizer
from cosmoflow.train.optim.schedules import cosine_decay, learning_rate, poly_decay
from cosmoflow.train.optim.sgd import SGDMomentum

__all__ = ["OPTIMIZERS", "make_optimizer", "FlatOptimizer", "AdamLARC", "AdamW", "SGDMomentum",
           "adam_larc_reference", "larc_trust", "poly_decay", "cosine_decay", "learning_rate"]


def _adam_larc(v, s):
    return AdamLARC(v, beta1=s.adam_beta1, beta2=s.adam_beta2, epsilon=s.adam_epsilon,
                    larc_eta=s.larc_eta, larc_fallback=s.larc_fallback, grad_clip=s.grad_clip)


def _adamw(v, s):
    return AdamW(v, beta1=s.adam_beta1, beta2=s.adam_beta2, epsilon=s.adam_epsilon,
                 weight_decay=s.weight_decay, grad_clip=s.grad_clip)


def _sgd(v, s):
    return SGDMomentum(v, momentum=s.momentum, weight_decay=s.weight_decay,
                       grad_clip=s.grad_clip)


OPTIMIZERS = {"adam_larc": _adam_larc, "adamw": _adamw, "sgd": _sgd}


def make_optimizer(settings, variables) -> FlatOptimizer:
    """The optimizer named by ``settings.optimizer`` over ``variables`` (a TrainSettings)."""
    if settings.optimizer not in OPTIMIZERS:
        raise ValueError(f"train.optimizer: got {settings.optimizer!r}, expected one of "
                         f"{sorted(OPTIMIZERS)}")
    return OPTIMIZERS[settings.optimizer](variables, settings)
