"""Output heads and their losses (cosmoflow.model.heads, cosmoflow.train.losses): the gaussian
head's NLL learns the right widths, and the point head is unchanged."""
import numpy as np
import pytest

from cosmoflow.model import heads

tf = pytest.importorskip("tensorflow")


def test_unknown_head_is_named():
    with pytest.raises(ValueError, match="model.head: got 'bogus'"):
        heads.n_outputs("bogus", 3)
    assert heads.n_outputs(None, 3) == 3 and heads.n_outputs("gaussian", 3) == 6


def test_split_and_width():
    out = np.arange(12, dtype=np.float32).reshape(2, 6)
    mu, logvar = heads.split(out, 3)
    np.testing.assert_array_equal(mu, out[:, :3])
    np.testing.assert_allclose(heads.width(np.log([4.0, 0.25])), [2.0, 0.5])
    assert heads.split(out[:, :3], 3)[1] is None
    with pytest.raises(ValueError, match="5 columns"):
        heads.split(out[:, :5], 3)


def test_build_model_gaussian_has_two_outputs_per_label():
    from cosmoflow.model import build_model

    m = build_model(16, conv_filters=[4, 8], dense=[8], n_outputs=3, preset="light", head="gaussian")
    assert m.output_shape == (None, 6)
    assert build_model(16, conv_filters=[4, 8], dense=[8], n_outputs=3, preset="light").output_shape == (None, 3)


@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_gaussian_nll_learns_heteroscedastic_widths(beta):
    """y = 0.5 x + noise of sd 0.1 exp(x): a small MLP trained by the (beta-)NLL predicts the
    mean and that sd within 15 % (the truth is known exactly)."""
    from cosmoflow.train import losses

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (4096, 1)).astype(np.float32)
    true_sd = 0.1 * np.exp(x)
    y = (0.5 * x + true_sd * rng.standard_normal(x.shape)).astype(np.float32)
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(32, activation="tanh"),
                              keras.layers.Dense(32, activation="tanh"), keras.layers.Dense(2)])
    opt = keras.optimizers.Adam(1e-2)
    loss_fn = losses.for_head("gaussian", beta)

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(model(xb, training=True), yb)
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    for epoch in range(40):
        for i in range(0, len(x), 512):
            step(x[i:i + 512], y[i:i + 512])
    grid = np.array([[-0.8], [0.0], [0.8]], np.float32)
    mu, logvar = heads.split(model(grid).numpy(), 1)
    np.testing.assert_allclose(mu[:, 0], 0.5 * grid[:, 0], atol=0.04)
    np.testing.assert_allclose(heads.width(logvar)[:, 0], 0.1 * np.exp(grid[:, 0]), rtol=0.2)


def test_validation_loss_is_the_plain_nll():
    from cosmoflow.train import losses

    pred = tf.constant([[0.0, np.log(4.0)]], tf.float32)
    y = tf.constant([[1.0]], tf.float32)
    want = 0.5 * (np.log(4.0) + 1.0 / 4.0)
    assert float(losses.for_head("gaussian", 0.5, validation=True)(pred, y)) == pytest.approx(want, rel=1e-6)
    assert float(losses.for_head("gaussian", 0.5)(pred, y)) == pytest.approx(want * 2.0, rel=1e-6)
    assert float(losses.for_head(None)(pred[:, :1], y)) == pytest.approx(1.0)
