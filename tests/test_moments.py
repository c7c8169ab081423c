"""The moments' branch of the light preset (cosmoflow.model.moments)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import ROOT
from cosmoflow import config as cfgmod
from cosmoflow.model import build_model, moments
from cosmoflow.model.power_features import load


def cubes(seed=0, n=5, size=8, channels=3):
    return np.random.default_rng(seed).gamma(2.0, size=(n, size, size, size, channels)).astype(np.float32)


def test_layer_gives_each_channels_mean_then_variance():
    x = cubes()
    got = moments.layer_class()()(x).numpy()
    flat = x.reshape(len(x), -1, x.shape[-1]).astype(np.float64)
    np.testing.assert_allclose(got, np.concatenate([flat.mean(1), flat.var(1)], axis=1), rtol=1e-5)


def test_feature_statistics_are_over_every_batch():
    x = cubes(1, n=6)
    mean, std = moments.feature_statistics([(x[:4], None), (x[4:], None)])
    f = moments.layer_class()()(x).numpy().astype(np.float64)
    np.testing.assert_allclose(mean, f.mean(0), rtol=1e-6)
    np.testing.assert_allclose(std, f.std(0), rtol=1e-5)


def test_model_with_moments_saves_and_loads_and_reads_them(tmp_path):
    """The branch reaches the head (fc1 gets 2 x 2 more inputs: 64 x 4 more weights), and the
    saved model reloads through the stages' loader to the same outputs."""
    x = cubes(2, n=4, size=16, channels=2)
    mean, std = moments.feature_statistics([(x, None)])
    model = build_model(16, preset="light", n_channels=2, n_outputs=3, moments=True,
                        moments_mean=mean, moments_std=std)
    assert model.get_layer("channel_moments_std") is not None
    model.save(tmp_path / "m.keras")
    again = load(tmp_path / "m.keras")
    np.testing.assert_array_equal(model(x, training=False).numpy(), again(x, training=False).numpy())
    without = build_model(16, preset="light", n_channels=2, n_outputs=3)
    def trainable(m):
        return sum(int(np.prod(w.shape)) for w in m.trainable_weights)
    assert trainable(model) - trainable(without) == 64 * 4


def test_moments_need_the_light_preset_and_their_statistics():
    with pytest.raises(ValueError, match="model.moments = true: only the light preset"):
        build_model(16, preset="mlperf", n_channels=1, moments=True, moments_mean=[0, 0],
                    moments_std=[1, 1])
    with pytest.raises(ValueError, match="moment statistics"):
        build_model(16, preset="light", n_channels=1, moments=True)


def test_workstation_network_is_a_linear_head_on_pooled_features_and_moments():
    """config/workstation.yaml's network (docs/model.md rows W13, W14): the light preset's pooled
    conv features (128) and the 4 channels' mean and variance (8) feed the gaussian head's output
    layer directly: no hidden dense layer, no dropout."""
    cfg = cfgmod.load(ROOT / "config" / "config.yaml", ROOT / "config" / "workstation.yaml")["model"]
    x = cubes(3, n=2, size=cfg["input_size"], channels=4)
    mean, std = moments.feature_statistics([(x, None)])
    model = build_model(**cfg, n_outputs=3, n_channels=4, moments_mean=mean, moments_std=std)
    dense = [l for l in model.layers if l.__class__.__name__ == "Dense"]
    assert [l.name for l in dense] == ["output"] and dense[0].kernel.shape == (128 + 8, 6)
    assert not [l for l in model.layers if l.__class__.__name__ == "Dropout"]
    assert model(x, training=False).shape == (2, 6)
