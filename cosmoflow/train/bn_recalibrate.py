"""Batch-norm recalibration: replace the moving statistics by the exact average over a few
training batches of the current weights (the "precise BN" / SWA bn_update procedure).

With a learning rate near its peak the weights move faster than the moving averages follow
(momentum m averages over ~1 / (1 - m) steps of *older* weights), and the inference-mode network
that validation and the exported model use can differ from the training-mode one by far more
than the training loss shows (docs/model.md, "Ablations": validation losses jumping 10x between
epochs). After an epoch's last step, ``recalibrate`` runs ``n_batches`` forward passes in
training mode with momentum i / (i + 1) at batch i, so each moving mean / variance ends as the
plain mean of the per-batch statistics; the caller then averages them over ranks
(``Trainer.sync_stats``). Dropout is off during the passes (its random streams are not
advanced: a resumed run draws the same masks); no trainable weight changes.
"""
from __future__ import annotations

from collections.abc import Iterable


def batch_norm_layers(model) -> list:
    """Every BatchNormalization layer of ``model`` (nested models included)."""
    import keras

    return [layer for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.BatchNormalization)]


def recalibrate(model, batches: Iterable, n_batches: int) -> int:
    """Set every batch-norm layer's moving mean and variance to the average of its batch
    statistics over the first ``n_batches`` of ``batches`` ((x, y) pairs or x); returns the
    number of batches used (0: no batch-norm layer or no batch)."""
    import keras

    bns = batch_norm_layers(model)
    if not bns or n_batches < 1:
        return 0
    drops = [layer for layer in model._flatten_layers(include_self=False)
             if isinstance(layer, keras.layers.Dropout)]
    saved = ([layer.momentum for layer in bns], [layer.rate for layer in drops])
    used = 0
    try:
        for layer in drops:
            layer.rate = 0.0
        for batch in batches:
            if used == n_batches:
                break
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            for layer in bns:
                layer.momentum = used / (used + 1.0)   # batch 0 replaces, then running mean
            model(x, training=True)
            used += 1
    finally:
        for layer, m in zip(bns, saved[0]):
            layer.momentum = m
        for layer, r in zip(drops, saved[1]):
            layer.rate = r
    return used
