"""The light preset's global pooling (cosmoflow.model.global_pooling, ``model.global_pooling``)."""
from __future__ import annotations

import numpy as np
import pytest

from cosmoflow import config as cfgmod
from cosmoflow.model import build_model, check_model, global_pooling
from cosmoflow.model.power_features import load


def maps(seed=0, n=3, size=4, features=5):
    return np.random.default_rng(seed).normal(size=(n, size, size, size, features)).astype(np.float32)


def test_layer_gives_each_features_mean_then_standard_deviation():
    x = maps()
    got = global_pooling.layer_class()()(x).numpy()
    flat = x.reshape(len(x), -1, x.shape[-1]).astype(np.float64)
    want = np.concatenate([flat.mean(1), np.sqrt(flat.var(1) + 1e-6)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_spread_tells_apart_maps_of_the_same_mean():
    """Two maps with equal means and different spreads: global average pooling gives both the
    same features, mean_std does not (what the option is for)."""
    import keras

    a = maps(1, n=1)
    a -= a.mean(axis=(1, 2, 3), keepdims=True)
    x = np.concatenate([a, 2 * a])               # both means 0, spreads differ by 2x
    avg = keras.layers.GlobalAveragePooling3D()(x).numpy()
    np.testing.assert_allclose(avg[0], avg[1], atol=1e-6)
    ms = global_pooling.layer_class()()(x).numpy()
    np.testing.assert_allclose(ms[1, 5:], 2 * ms[0, 5:], rtol=1e-4)


def test_model_with_mean_std_saves_loads_and_widens_the_head(tmp_path):
    """fc1 gets one more input per last-block feature (light: 128 x 64 more weights); the saved
    model reloads through the stages' loader to the same outputs."""
    x = np.random.default_rng(2).gamma(2.0, size=(4, 16, 16, 16, 2)).astype(np.float32)
    model = build_model(16, preset="light", n_channels=2, n_outputs=3, global_pooling="mean_std")
    model.save(tmp_path / "m.keras")
    again = load(tmp_path / "m.keras")
    np.testing.assert_array_equal(model(x, training=False).numpy(), again(x, training=False).numpy())
    mean = build_model(16, preset="light", n_channels=2, n_outputs=3, global_pooling="mean")
    default = build_model(16, preset="light", n_channels=2, n_outputs=3)
    def trainable(m):
        return sum(int(np.prod(w.shape)) for w in m.trainable_weights)
    assert trainable(mean) == trainable(default)
    assert trainable(model) - trainable(default) == 128 * 64


def test_global_pooling_errors_name_the_key():
    with pytest.raises(ValueError, match="model.global_pooling = 'mean_std': only the light preset"):
        check_model({"preset": "mlperf", "input_size": 32, "global_pooling": "mean_std"})
    with pytest.raises(ValueError, match=r"model.global_pooling: got 'max', expected one of \['mean', 'mean_std'\]"):
        build_model(16, preset="light", n_channels=1, global_pooling="max")


def test_mean_is_the_config_without_the_key():
    """global_pooling: mean (the default) and no key give the same config (same rule parameters,
    so results made before the option keep theirs)."""
    base = {"model": {"preset": "light", "input_size": 16}}
    assert cfgmod.canonical({"model": dict(base["model"], global_pooling="mean")}) == base
    kept = cfgmod.canonical({"model": dict(base["model"], global_pooling="mean_std")})
    assert kept["model"]["global_pooling"] == "mean_std"
