"""Optimizers (Adam + LARC, AdamW, SGD) and schedules against hand values and references."""
import math

import numpy as np
import pytest
import tensorflow as tf

from cosmoflow.train.optim import (AdamLARC, AdamW, SGDMomentum, adam_larc_reference, cosine_decay,
                                   larc_trust, learning_rate, poly_decay)

PAPER = dict(beta1=0.9, beta2=0.999, epsilon=1e-8, larc_eta=0.002, larc_fallback=6.25e-5)


def test_poly_decay_hand_values():
    # eta_t = (2e-3 - 1e-4)(1 - t/100) + 1e-4
    assert poly_decay(0, 2e-3, 1e-4, 100) == pytest.approx(2e-3, rel=1e-15)
    assert poly_decay(50, 2e-3, 1e-4, 100) == pytest.approx(1.05e-3, rel=1e-15)
    assert poly_decay(25, 2e-3, 1e-4, 100) == pytest.approx(1.525e-3, rel=1e-15)
    assert poly_decay(100, 2e-3, 1e-4, 100) == pytest.approx(1e-4, rel=1e-15)
    assert poly_decay(250, 2e-3, 1e-4, 100) == pytest.approx(1e-4, rel=1e-15)
    with pytest.raises(ValueError, match="decay_steps"):
        poly_decay(0, 2e-3, 1e-4, 0)


def test_larc_trust_cases():
    assert larc_trust(5.0, 1.0, 0.002, 6.25e-5) == pytest.approx(0.01)      # 0.002 * 5 / 1
    assert larc_trust(0.0, 1.0, 0.002, 6.25e-5) == 6.25e-5                 # zero weights
    assert larc_trust(5.0, 0.0, 0.002, 6.25e-5) == 6.25e-5                 # zero gradient
    assert larc_trust(1e4, 1e-3, 0.002, 6.25e-5) == 1.0                    # clipped at 1


def test_one_step_hand_computed():
    """w = (3, 4), g = (0.6, 0.8): ||w|| = 5, ||g|| = 1, eta* = 0.01; bias 0 -> fallback."""
    lr = 2e-3
    w = tf.Variable([3.0, 4.0])
    b = tf.Variable([0.0])
    opt = AdamLARC([w, b], **PAPER)
    opt.apply([tf.constant([0.6, 0.8]), tf.constant([0.5])], lr)
    alpha = lr * math.sqrt(1 - 0.999) / (1 - 0.9)
    # kernel: g* = 0.01 g; m = 0.1 g*; v = 0.001 g*^2
    gs = np.array([0.006, 0.008])
    m, v = 0.1 * gs, 0.001 * gs ** 2
    expect_w = np.array([3.0, 4.0]) - alpha * m / (np.sqrt(v) + 1e-8)
    # bias: ||w|| = 0 -> eta* = 6.25e-5 -> g* = 3.125e-5
    gb = 0.5 * 6.25e-5
    expect_b = -alpha * (0.1 * gb) / (math.sqrt(0.001 * gb ** 2) + 1e-8)
    np.testing.assert_allclose(w.numpy(), expect_w, rtol=1e-6)
    np.testing.assert_allclose(b.numpy(), [expect_b], rtol=1e-5)
    # first Adam step moves by ~lr; the eps-hat term shows on the tiny bias gradient
    assert expect_w[0] == pytest.approx(3.0 - lr, rel=1e-6)
    assert abs(expect_b) == pytest.approx(lr * 0.99, rel=2e-3)
    np.testing.assert_allclose(opt.slots["m"][0].numpy(), m, rtol=1e-6)
    np.testing.assert_allclose(opt.slots["v"][0].numpy(), v, rtol=1e-5)
    assert int(opt.iterations.numpy()) == 1


def test_several_steps_match_float64_reference():
    rng = np.random.default_rng(0)
    shapes = [(3, 3, 2), (2,), (7,)]
    w0 = [rng.standard_normal(s) for s in shapes]
    w0[1][:] = 0.0  # a zero-norm variable uses the fallback rate
    variables = [tf.Variable(w.astype(np.float32)) for w in w0]
    opt = AdamLARC(variables, **PAPER)
    w_ref = [w.astype(np.float32).astype(np.float64) for w in w0]
    m_ref = [np.zeros(s) for s in shapes]
    v_ref = [np.zeros(s) for s in shapes]
    for step in range(4):
        grads = [rng.standard_normal(s).astype(np.float32) * 10.0 ** (step - 2) for s in shapes]
        lr = poly_decay(step, 2e-3, 1e-4, 3)
        opt.apply(grads, lr)
        w_ref, m_ref, v_ref = adam_larc_reference(
            w_ref, [g.astype(np.float64) for g in grads], m_ref, v_ref, step, lr, **PAPER)
    for var, ref in zip(variables, w_ref):
        np.testing.assert_allclose(var.numpy(), ref, rtol=1e-5, atol=1e-7)
    # state round trip
    state = opt.get_state()
    opt2 = AdamLARC([tf.Variable(v.numpy()) for v in variables], **PAPER)
    opt2.set_state(state)
    assert int(opt2.iterations.numpy()) == 4
    np.testing.assert_array_equal(opt2.slots["v"][2].numpy(), opt.slots["v"][2].numpy())


def test_flat_apply_with_scale_averages():
    """apply_flat(sum of 2 gradients, scale 1/2) == apply(mean gradient)."""
    a = [tf.Variable([1.0, 2.0]), tf.Variable([[0.5]])]
    b = [tf.Variable([1.0, 2.0]), tf.Variable([[0.5]])]
    g1 = np.array([0.1, -0.2, 0.3], np.float32)
    g2 = np.array([0.3, 0.4, -0.1], np.float32)
    AdamLARC(a, **PAPER).apply_flat(np.concatenate([g1 + g2, [9.0, 9.0]]), 1e-3, scale=0.5)
    AdamLARC(b, **PAPER).apply([(g1[:2] + g2[:2]) / 2, ((g1[2:] + g2[2:]) / 2).reshape(1, 1)],
                               1e-3)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-6)


# -- the other optimizers and schedules ------------------------------------------------------
def _keras_reference(keras_opt, w0, grads):
    v = [tf.Variable(w.copy()) for w in w0]
    for g in grads:
        keras_opt.apply_gradients(zip([tf.constant(x) for x in g], v))
    return [x.numpy() for x in v]


def _ours(opt_cls, w0, grads, lr, **kw):
    v = [tf.Variable(w.copy()) for w in w0]
    opt = opt_cls(v, **kw)
    for g in grads:
        opt.apply(g, lr)
    return [x.numpy() for x in v]


def _problem(seed=1):
    rng = np.random.default_rng(seed)
    w0 = [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(4).astype(np.float32)]
    grads = [[rng.standard_normal(w.shape).astype(np.float32) for w in w0] for _ in range(5)]
    return w0, grads


def test_adamw_matches_keras_adamw_on_kernels_and_no_decay_on_biases():
    import keras

    w0, grads = _problem()
    ours = _ours(AdamW, w0, grads, 1e-2, beta1=0.9, beta2=0.999, epsilon=1e-7, weight_decay=0.1)
    ref = keras.optimizers.AdamW(learning_rate=1e-2, weight_decay=0.1, epsilon=1e-7)
    ref.exclude_from_weight_decay(var_names=["bias"])
    v = [tf.Variable(w0[0].copy(), name="kernel"), tf.Variable(w0[1].copy(), name="bias")]
    for g in grads:
        ref.apply_gradients(zip([tf.constant(x) for x in g], v))
    for a, b in zip(ours, v):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-6)
    plain = _ours(AdamW, w0, grads, 1e-2, beta1=0.9, beta2=0.999, epsilon=1e-7, weight_decay=0.0)
    assert not np.allclose(plain[0], ours[0])        # the kernel decays
    np.testing.assert_allclose(plain[1], ours[1])   # the bias does not


def test_sgd_momentum_matches_keras_sgd():
    import keras

    w0, grads = _problem(2)
    ours = _ours(SGDMomentum, w0, grads, 0.05, momentum=0.9, weight_decay=0.0)
    ref = _keras_reference(keras.optimizers.SGD(learning_rate=0.05, momentum=0.9), w0, grads)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_global_norm_clipping_scales_the_whole_gradient():
    w0 = [np.zeros(2, np.float32), np.zeros(1, np.float32)]
    g = [np.array([3.0, 0.0], np.float32), np.array([4.0], np.float32)]   # global norm 5
    clipped = _ours(SGDMomentum, w0, [g], 1.0, momentum=0.0, weight_decay=0.0, grad_clip=1.0)
    np.testing.assert_allclose(clipped[0], [-0.6, 0.0], rtol=1e-6)
    np.testing.assert_allclose(clipped[1], [-0.8], rtol=1e-6)
    loose = _ours(SGDMomentum, w0, [g], 1.0, momentum=0.0, weight_decay=0.0, grad_clip=10.0)
    np.testing.assert_allclose(loose[0], [-3.0, 0.0], rtol=1e-6)


def test_warmup_then_cosine_hand_values():
    kw = dict(kind="cosine", lr=1e-3, lr_min=1e-5, decay_steps=100, warmup_steps=10)
    assert learning_rate(0, **kw) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.1)
    assert learning_rate(9, **kw) == pytest.approx(1e-3)
    assert learning_rate(10, **kw) == pytest.approx(1e-3)                  # decay starts
    assert learning_rate(60, **kw) == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5))
    assert learning_rate(110, **kw) == pytest.approx(1e-5)
    assert learning_rate(500, **kw) == pytest.approx(1e-5)
    assert cosine_decay(25, 1.0, 0.0, 100) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert learning_rate(35, **dict(kw, kind="poly")) == pytest.approx(poly_decay(25, 1e-3, 1e-5, 100))
    with pytest.raises(ValueError, match="train.schedule"):
        learning_rate(0, **dict(kw, kind="step"))
