"""Batch-norm recalibration (train.bn_recalibrate): the moving statistics become the plain mean
of the batch statistics of the current weights; nothing else changes."""
from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cosmoflow.model import build_model  # noqa: E402
from cosmoflow.train.bn_recalibrate import batch_norm_layers, recalibrate  # noqa: E402


def light(seed=0):
    keras.utils.set_random_seed(seed)
    return build_model(input_size=8, n_channels=2, n_outputs=3, preset="light",
                       conv_filters=[4, 8], dense=[8], dropout=0.5)


def test_moving_statistics_become_the_mean_of_the_batch_statistics():
    model = light()
    rng = np.random.default_rng(1)
    batches = [rng.normal(1.0 + i, 0.5, size=(3, 8, 8, 8, 2)).astype(np.float32) for i in range(4)]
    bn = batch_norm_layers(model)[0]
    # the first BN's input: the first conv's output (no bias), computed directly
    first_conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv3D))
    want_mean = np.mean([first_conv(b).numpy().mean(axis=(0, 1, 2, 3)) for b in batches], axis=0)
    want_var = np.mean([first_conv(b).numpy().var(axis=(0, 1, 2, 3)) for b in batches], axis=0)
    trainable = [w.numpy().copy() for w in model.trainable_weights]
    used = recalibrate(model, iter([(b, None) for b in batches] + [(batches[0] * 100, None)]), 4)
    assert used == 4
    np.testing.assert_allclose(bn.moving_mean.numpy(), want_mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), want_var, rtol=1e-3, atol=1e-5)
    for w, before in zip(model.trainable_weights, trainable):
        np.testing.assert_array_equal(w.numpy(), before)
    assert all(layer.momentum == pytest.approx(0.9) for layer in batch_norm_layers(model))


def test_recalibration_makes_inference_match_training_mode_on_the_same_batch():
    model = light()
    x = np.random.default_rng(2).normal(3.0, 2.0, size=(16, 8, 8, 8, 2)).astype(np.float32)
    drop = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)][0]
    rate = drop.rate
    gap = lambda: np.abs(model(x, training=False).numpy() - model(x, training=True).numpy()).max()
    drop.rate = 0.0
    before = gap()
    drop.rate = rate
    recalibrate(model, [x], 1)
    drop.rate = 0.0
    after = gap()
    assert after < 1e-3 * before and before > 1e-2
    assert drop.rate == 0.0


def test_without_batch_norm_nothing_is_done():
    keras.utils.set_random_seed(0)
    model = build_model(input_size=8, n_channels=1, n_outputs=3, preset="light", conv_filters=[4, 8],
                        dense=[8], batch_norm=False)
    assert recalibrate(model, [np.zeros((1, 8, 8, 8, 1), np.float32)], 3) == 0
