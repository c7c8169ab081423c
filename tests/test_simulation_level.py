"""Per-simulation estimators from whole boxes (cosmoflow.evaluate.simulation_level)."""
from __future__ import annotations

import numpy as np
import pytest

from cosmoflow.data.voxels import split_subvolumes
from cosmoflow.evaluate import baselines
from cosmoflow.evaluate import simulation_level as sl


def cut(box, s, sim, y, z=(0.0,)):
    """The records' samples of one box: (counts, labels, sim, k, z) in sub-volume order."""
    chans = box if box.ndim == 4 else box[..., None]
    cubes = np.stack([split_subvolumes(chans[..., c], s) for c in range(chans.shape[3])], axis=-1)
    return [(cubes[k], y, sim, k, z) for k in range(len(cubes))]


def test_boxes_are_reassembled_from_their_subvolumes_in_any_order():
    rng = np.random.default_rng(0)
    box = rng.integers(0, 9, size=(8, 8, 8, 2)).astype(np.uint16)
    samples = cut(box, 4, 3, [0.3, 0.8])
    rng.shuffle(samples)
    boxes, labels = sl.assemble_boxes(samples)
    np.testing.assert_array_equal(boxes[3], box)
    np.testing.assert_array_equal(labels[3], [0.3, 0.8])


def test_single_channel_samples_at_several_redshifts_become_channels():
    rng = np.random.default_rng(1)
    z0, z3 = (rng.integers(0, 9, size=(8, 8, 8)).astype(np.uint16) for _ in range(2))
    samples = cut(z3, 4, 5, [0.3], z=(3.0,)) + cut(z0, 4, 5, [0.3], z=(0.0,))
    boxes, _ = sl.assemble_boxes(samples)
    np.testing.assert_array_equal(boxes[5], np.stack([z0, z3], axis=-1))


def test_a_missing_or_repeated_subvolume_is_named():
    samples = cut(np.ones((8, 8, 8), np.uint16), 4, 7, [0.3])
    with pytest.raises(ValueError, match="simulation 7: 7 sub-volumes"):
        sl.assemble_boxes(samples[:-1])
    with pytest.raises(ValueError, match="simulation 7: sub-volume 0 .* twice"):
        sl.assemble_boxes(samples + samples[:1])


def test_octave_bands_span_fundamental_to_nyquist():
    e = sl.octave_edges(256.0, 128)
    assert e[0] == pytest.approx(2 * np.pi / 256) and e[-1] == pytest.approx(np.pi * 128 / 256)
    assert len(e) == 7 and np.allclose(e[1:] / e[:-1], 2.0)
    assert sl.octave_edges(64.0, 24)[-1] == pytest.approx(np.pi * 24 / 64)


def test_band_power_of_a_scaled_field_scales_with_the_square():
    rng = np.random.default_rng(2)
    g = rng.normal(size=(16, 16, 16))
    g -= g.mean()
    counts = 100 + 5 * g
    edges = sl.octave_edges(64.0, 16)
    _, p1 = baselines.band_power(counts, 64.0, edges)
    _, p2 = baselines.band_power(100 + 10 * g, 64.0, edges)
    np.testing.assert_allclose(p2 / p1, 4.0, rtol=1e-6)
    # shell_power is band_power on linear bins
    k, p = baselines.shell_power(counts, 64.0, 5)
    k2, p3 = baselines.band_power(counts, 64.0, np.linspace(2 * np.pi / 64, np.pi * 16 / 64, 6))
    np.testing.assert_array_equal(p, p3)


def gaussian_box(rng, n, amplitude, slope):
    """Counts of a Gaussian field with P(k) ~ amplitude^2 (k / k0)^slope (+ a mean of 50)."""
    kf = np.fft.fftfreq(n) * n
    kk = np.sqrt(kf[:, None, None] ** 2 + kf[None, :, None] ** 2 + kf[None, None, :] ** 2)
    kk[0, 0, 0] = 1.0
    amp = amplitude * (kk / 4.0) ** (slope / 2)
    amp[0, 0, 0] = 0.0
    field = np.fft.ifftn(np.fft.fftn(rng.normal(size=(n, n, n))) * amp).real
    return 50.0 * (1 + 0.3 * field / field.std() * amplitude)


def test_box_ridge_recovers_an_amplitude_that_one_subvolume_cannot_pin_down():
    """Labels (amplitude, slope) of Gaussian boxes: the whole-box estimator beats the mean of
    what the sub-volumes say (here: their own log band powers, averaged)."""
    rng = np.random.default_rng(3)

    def sims(n_sims, start):
        boxes, labels, net = {}, {}, {}
        for i in range(n_sims):
            a, s = rng.uniform(0.5, 1.5), rng.uniform(-2.0, -1.0)
            boxes[start + i] = gaussian_box(rng, 16, a, s)[..., None]
            labels[start + i] = np.array([a, s])
            net[start + i] = labels[start + i] + rng.normal(0, [0.3, 0.3])   # a noisy "network"
        return boxes, labels, net

    tr_b, tr_y, tr_n = sims(60, 0)
    te_b, te_y, te_n = sims(30, 100)
    est = sl.simulation_estimates(tr_b, tr_y, tr_n, te_b, te_n, 64.0, [1e-4, 1e-2, 1.0], 5)
    truth = np.stack([te_y[s] for s in est["sims"]])
    rmse = lambda p: np.sqrt(((p - truth) ** 2).mean(0))
    noisy = np.stack([te_n[s] for s in est["sims"]])
    assert rmse(est["box_pk_ridge"])[0] < 0.5 * rmse(noisy)[0]
    assert rmse(est["network_box"])[0] < 0.5 * rmse(noisy)[0]
    assert set(est["alphas"]) == {"box_pk_ridge", "network_box"}


def test_mean_statistics_join_the_box_estimators():
    """With the sub-volumes' mean statistics given (here: a column that reads the slope), the
    box + statistics ridge reads the slope better than the box alone, and the network + box
    estimator takes them in too; giving one side's statistics only is an error."""
    rng = np.random.default_rng(4)

    def sims(n_sims, start):
        boxes, labels, net, stats = {}, {}, {}, {}
        for i in range(n_sims):
            a, s = rng.uniform(0.5, 1.5), rng.uniform(-2.0, -1.0)
            boxes[start + i] = gaussian_box(rng, 16, a, s)[..., None]
            labels[start + i] = np.array([a, s])
            net[start + i] = labels[start + i] + rng.normal(0, [0.3, 0.3])
            stats[start + i] = np.array([s + rng.normal(0, 0.02), rng.normal(), np.nan])
        return boxes, labels, net, stats

    tr_b, tr_y, tr_n, tr_s = sims(60, 0)
    te_b, te_y, te_n, te_s = sims(30, 100)
    args = (tr_b, tr_y, tr_n, te_b, te_n, 64.0, [1e-4, 1e-2, 1.0], 5)
    est = sl.simulation_estimates(*args, train_stats=tr_s, test_stats=te_s)
    truth = np.stack([te_y[s] for s in est["sims"]])
    rmse = lambda p: np.sqrt(((p - truth) ** 2).mean(0))
    assert set(est["alphas"]) == {"box_pk_ridge", "box_stats_ridge", "network_box"}
    assert np.isfinite(est["box_stats_ridge"]).all() and np.isfinite(est["network_box"]).all()
    assert rmse(est["box_stats_ridge"])[1] < 0.5 * rmse(est["box_pk_ridge"])[1]
    assert rmse(est["network_box"])[1] < 0.5 * rmse(est["box_pk_ridge"])[1]
    with pytest.raises(ValueError, match="both the training and the test"):
        sl.simulation_estimates(*args, train_stats=tr_s)
