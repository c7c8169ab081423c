"""The in-graph power-spectrum input (model.power_bins): the baseline's P(k), inside a saved model."""
import numpy as np
import pytest

from cosmoflow.evaluate.baselines import shell_power
from cosmoflow.model import build_model, check_model
from cosmoflow.model.power_features import feature_statistics, layer_class, load, shell_bins


def _counts(seed, size=16, channels=2):
    """Poisson counts around a smooth random field (a cube with a non-white spectrum)."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((size, size, size, channels))
    for axis in range(3):
        g = (np.roll(g, 1, axis) + g + np.roll(g, -1, axis)) / 3.0
    return rng.poisson(2.0 * np.exp(g)).astype(np.float32)


def test_layer_equals_the_baselines_log_pk_per_channel():
    """log P(k) of every channel, bins of baselines.shell_power; the layer's power is per voxel
    (the baseline's times S^3 / side^3), so the two differ by that constant only."""
    size, side, n_bins = 16, 32.0, 6
    cubes = np.stack([_counts(1), _counts(2)])                      # 2 samples x 2 channels
    out = layer_class()(n_bins, "expm1")(np.log1p(cubes)).numpy()
    assert out.shape == (2, 2 * n_bins)
    for b in range(2):
        for c in range(2):
            want = np.log(shell_power(cubes[b, ..., c], side, n_bins)[1]) + np.log(size**3 / side**3)
            np.testing.assert_allclose(out[b, c * n_bins:(c + 1) * n_bins], want, rtol=0, atol=2e-4)
    # the x / mean input normalisation: the same counts up to a factor, the same overdensity
    same = layer_class()(n_bins, "identity")(cubes / 3.7).numpy()
    np.testing.assert_allclose(same, out, rtol=0, atol=2e-4)


def test_every_rfft_mode_counted_once_per_bin():
    bins, weights = shell_bins(16, 6)
    assert bins.shape == (16 * 16 * 9,) and set(np.unique(bins)) == set(range(7))
    np.testing.assert_allclose(np.bincount(bins, weights=weights)[:6], 1.0, rtol=1e-6)
    assert weights[bins == 6].sum() == 0       # the mean and the corners beyond Nyquist


def test_model_with_power_input_saves_and_loads(tmp_path):
    model = build_model(16, preset="light", n_outputs=3, n_channels=2, conv_filters=[4, 8],
                        dense=[8], power_bins=6, input_mean=[0.5, 0.5], input_std=[1.0, 1.0])
    names = [layer.name for layer in model.layers]
    assert {"shell_power", "shell_power_bn", "with_power"} <= set(names)
    x = np.log1p(np.stack([_counts(3), _counts(4)]))
    model.save(tmp_path / "m.keras")
    again = load(tmp_path / "m.keras")
    np.testing.assert_allclose(again(x, training=False).numpy(), model(x, training=False).numpy(),
                               rtol=1e-6)
    # the power branch reads the counts, not the standardised input: changing the standardisation
    # changes the conv features only
    assert again.get_layer("shell_power").input.name == again.inputs[0].name


def test_power_bins_errors_name_the_key():
    with pytest.raises(ValueError, match="model.power_bins = 4: only the light preset"):
        check_model({"preset": "paper", "input_size": 128, "power_bins": 4})
    with pytest.raises(ValueError, match=r"model.power_bins = 200: bin\(s\) .* hold no mode"):
        check_model({"preset": "light", "input_size": 16, "power_bins": 200})
    check_model({"preset": "light", "input_size": 16, "power_bins": 6})


def test_feature_statistics_are_the_layers_mean_and_std_over_all_batches():
    x = np.log1p(np.stack([_counts(s) for s in range(5)]))
    mean, std = feature_statistics([(x[:2], None), (x[2:], None)], 6, "expm1")
    f = layer_class()(6, "expm1")(x).numpy().astype(np.float64)
    np.testing.assert_allclose(mean, f.mean(0), rtol=0, atol=1e-9)
    np.testing.assert_allclose(std, f.std(0), rtol=1e-7)
    with pytest.raises(ValueError, match="training split holds no sample"):
        feature_statistics([], 6, "expm1")


def test_linear_output_path_starts_as_the_network_without_it_and_saves(tmp_path):
    """model.power_into: output: the standardised band powers reach the output through one
    zero-initialised linear map, so an untrained model predicts what the conv network alone
    does; the statistics travel with the saved model."""
    import keras

    x = np.log1p(np.stack([_counts(s) for s in range(4)]))
    mean, std = feature_statistics([(x, None)], 6, "expm1")
    kw = dict(preset="light", n_outputs=3, n_channels=2, conv_filters=[4, 8], dense=[8],
              input_mean=[0.5, 0.5], input_std=[1.0, 1.0])
    keras.utils.set_random_seed(7)
    model = build_model(16, power_bins=6, power_into="output", power_mean=mean, power_std=std, **kw)
    keras.utils.set_random_seed(7)
    plain = build_model(16, **kw)
    assert "shell_power_bn" not in [layer.name for layer in model.layers]
    np.testing.assert_array_equal(model.get_layer("power_linear").get_weights()[0], 0.0)
    np.testing.assert_allclose(model(x, training=False).numpy(), plain(x, training=False).numpy(),
                               rtol=1e-6)
    # the linear term is what the output adds: set the map to pick one feature per output
    w = np.zeros((12, 3), np.float32)
    w[[0, 5, 11], [0, 1, 2]] = 1.0
    model.get_layer("power_linear").set_weights([w, np.zeros(3, np.float32)])
    z = (layer_class()(6, "expm1")(x).numpy() - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(model(x, training=False).numpy() - plain(x, training=False).numpy(),
                               z[:, [0, 5, 11]], rtol=1e-4, atol=1e-4)
    model.save(tmp_path / "m.keras")
    again = load(tmp_path / "m.keras")
    np.testing.assert_allclose(again(x, training=False).numpy(), model(x, training=False).numpy(),
                               rtol=1e-6)


def test_power_into_errors_name_the_key():
    with pytest.raises(ValueError, match="model.power_into: got 'tail', expected one of"):
        check_model({"preset": "light", "input_size": 16, "power_bins": 6, "power_into": "tail"})
    with pytest.raises(ValueError, match=r"model.power_into = 'output': the power branch is off"):
        check_model({"preset": "light", "input_size": 16, "power_into": "output"})
    with pytest.raises(ValueError, match="needs the training split's power feature statistics"):
        build_model(16, preset="light", conv_filters=[4, 8], dense=[8], power_bins=6,
                    power_into="output")
    check_model({"preset": "light", "input_size": 16, "power_bins": 6, "power_into": "output"})
