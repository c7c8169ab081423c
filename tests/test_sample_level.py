"""The network + sample statistics estimator (cosmoflow.evaluate.sample_level): pure arrays."""
from __future__ import annotations

import numpy as np
import pytest

from cosmoflow.evaluate import baselines
from cosmoflow.evaluate.sample_level import network_stats_estimates

ALPHAS = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]


def synthetic(rng, n_sims, per_sim=8):
    """Labels (a, b) per simulation; a "network" that reads a well and b badly, and
    "statistics" that read b well and a not at all (plus noise columns and a column that is
    NaN in one sample, as an empty k shell)."""
    y_sim = rng.uniform(-1, 1, size=(n_sims, 2))
    y = np.repeat(y_sim, per_sim, axis=0)
    sims = np.repeat(np.arange(n_sims), per_sim)
    net = np.stack([y[:, 0] + 0.1 * rng.normal(size=len(y)),
                    0.3 * y[:, 1] + 0.5 * rng.normal(size=len(y))], axis=1)
    stats = np.hstack([2.0 * y[:, 1:] + 0.1 * rng.normal(size=(len(y), 1)),
                       rng.normal(size=(len(y), 5))])
    stats[0, -1] = np.nan
    return net, stats, y, sims


def rmse(pred, y):
    return np.sqrt(((pred - y) ** 2).mean(0))


def test_the_combination_reads_what_each_part_reads():
    """On held-out simulations the stack beats the network on b and the statistics' ridge on
    a: it takes each label from the input that carries it."""
    rng = np.random.default_rng(0)
    net_tr, st_tr, y_tr, sims_tr = synthetic(rng, 32)
    net_te, st_te, y_te, _ = synthetic(rng, 16)
    st_te[0, -1] = 0.5
    pred, chosen, _ = network_stats_estimates(net_tr, st_tr, y_tr, sims_tr, net_te, st_te, ALPHAS, 5)
    ridge, _, _ = baselines.fit_ridge_cv(st_tr, y_tr, sims_tr, ALPHAS, 5)
    ours, net, stats = rmse(pred, y_te), rmse(net_te, y_te), rmse(ridge.predict(st_te), y_te)
    assert pred.shape == y_te.shape and np.isfinite(pred).all()
    assert chosen.shape == (2,) and set(chosen) <= set(ALPHAS)
    assert ours[0] < 0.15 and ours[0] < 0.3 * stats[0]   # a: the network's (0.1 noise)
    assert ours[1] < 0.1 and ours[1] < 0.3 * net[1]      # b: the statistics' (0.05 noise on b)


def test_rows_must_match():
    rng = np.random.default_rng(1)
    net, stats, y, sims = synthetic(rng, 4)
    with pytest.raises(ValueError, match="one row per sample"):
        network_stats_estimates(net[:-1], stats, y, sims, net, stats, ALPHAS, 5)
    with pytest.raises(ValueError, match="one row per sample"):
        network_stats_estimates(net, stats, y, sims, net[:3], stats, ALPHAS, 5)
