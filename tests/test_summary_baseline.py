"""Summary-statistics baseline: one-point features by hand, recovery of known parameters."""
import numpy as np
import pytest

from cosmoflow.evaluate import baselines, metrics, summaries

QUANTILES = [0.05, 0.16, 0.5, 0.84, 0.95]
GRID = {"learning_rate": [0.1], "max_leaf_nodes": [7], "max_iter": [25, 50, 100]}


def lognormal_field(n: int, amp: float, slope: float, seed: int, nbar: float = 4.0) -> np.ndarray:
    """Poisson counts of a log-normal density exp(g - amp^2 / 2), g Gaussian with P(k) ~ k^slope
    and standard deviation amp (mean count nbar per voxel)."""
    rng = np.random.default_rng(seed)
    f = np.fft.fftfreq(n) * n
    h = np.fft.rfftfreq(n) * n
    k = np.sqrt(f[:, None, None] ** 2 + f[None, :, None] ** 2 + h[None, None, :] ** 2)
    k[0, 0, 0] = 1.0
    gk = np.fft.rfftn(rng.normal(size=(n, n, n))) * k ** (slope / 2)
    gk[0, 0, 0] = 0.0
    g = np.fft.irfftn(gk, s=(n, n, n), axes=(0, 1, 2))
    g *= amp / g.std()
    return rng.poisson(nbar * np.exp(g - amp**2 / 2))


def sub_cubes(field: np.ndarray, sub: int) -> list[np.ndarray]:
    m = field.shape[0] // sub
    return [field[i * sub:(i + 1) * sub, j * sub:(j + 1) * sub, k * sub:(k + 1) * sub]
            for i in range(m) for j in range(m) for k in range(m)]


def test_one_point_features_by_hand():
    cube = np.zeros((2, 2, 2, 2), int)
    cube[..., 0] = np.array([0, 0, 1, 1, 3, 3, 7, 7]).reshape(2, 2, 2)
    cube[..., 1] = 5
    f = summaries.one_point_features(cube, [0.5])
    assert f.shape == (2 * 6,)
    x = np.log1p([0, 0, 1, 1, 3, 3, 7, 7])
    d = x - x.mean()
    assert f[0] == pytest.approx(x.mean()) and f[1] == pytest.approx(np.mean(d**2))
    assert f[2] == pytest.approx(np.mean(d**3) / np.mean(d**2) ** 1.5)
    assert f[3] == pytest.approx(np.mean(d**4) / np.mean(d**2) ** 2 - 3)
    assert f[4] == pytest.approx(np.median(x)) and f[5] == pytest.approx(0.25)  # 2 of 8 empty
    # a constant channel: no spread, no shape, nothing empty
    assert np.allclose(f[6:], [np.log(6), 0, 0, 0, np.log(6), 0])


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the empty cube's P(k)
def test_summary_features_stack_pk_and_one_point_of_every_channel_and_mark_empty_as_nan():
    rng = np.random.default_rng(0)
    cubes = [rng.poisson(3, size=(8, 8, 8, 2)) for _ in range(3)] + [np.zeros((8, 8, 8, 2), int)]
    x = summaries.summary_features(cubes, 32.0, 4, QUANTILES)
    assert x.shape == (4, 2 * 4 + 2 * (5 + len(QUANTILES)))
    assert np.allclose(x[:3, :8], baselines.pk_features(cubes[:3], 32.0, 4))
    assert np.isfinite(x[:3]).all()
    assert np.isnan(x[3, :8]).all() and not np.isinf(x).any()  # empty cube: no P(k), no inf
    assert x[3, 8 + 4 + len(QUANTILES)] == 1.0  # every voxel empty


def test_summary_baseline_recovers_amplitude_and_slope_on_held_out_simulations():
    """Log-normal fields whose standard deviation (label 0) and P(k) slope (label 1) are set per
    simulation, 8 sub-volumes each: trained on 24 simulations, the baseline must predict both
    on 12 new ones far better than the mean predictor (R^2 > 0.8 and > 0.5 vs <= ~0)."""
    rng = np.random.default_rng(0)
    n_sims = 36
    labels = np.stack([rng.uniform(0.4, 0.9, n_sims), rng.uniform(-2.5, -1.0, n_sims),
                       rng.uniform(0.0, 1.0, n_sims)], axis=1)  # label 2: not in the fields
    cubes, y, groups = [], [], []
    for s in range(n_sims):
        cs = sub_cubes(lognormal_field(32, labels[s, 0], labels[s, 1], seed=s), 16)
        cubes += cs
        y += [labels[s]] * len(cs)
        groups += [s] * len(cs)
    y, groups = np.array(y), np.array(groups)
    x = summaries.summary_features(cubes, 64.0, 8, QUANTILES)
    train = groups < 24
    model, chosen, cv = summaries.fit_summary_cv(x[train], y[train], groups[train], GRID, n_folds=4)
    assert len(chosen) == 3 and cv.shape == (1, 3, 3) and np.isfinite(cv).all()
    names = ["amp", "slope", "noise"]
    got = metrics.parameter_metrics(model.predict(x[~train]), y[~train], names)
    mean = metrics.parameter_metrics(baselines.mean_predictor(y[train], int((~train).sum())), y[~train], names)
    assert got["amp"]["r2"] > 0.8 and got["slope"]["r2"] > 0.5, got
    assert mean["amp"]["r2"] < 0.1 and mean["slope"]["r2"] < 0.1
    assert got["amp"]["rmse"] < 0.4 * mean["amp"]["rmse"]


def test_summary_cv_with_one_simulation_takes_the_most_regularised_candidate():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(8, 5)), rng.normal(size=(8, 2))
    grid = {"learning_rate": [0.2, 0.05], "max_leaf_nodes": [15, 7], "max_iter": [100, 20]}
    model, chosen, cv = summaries.fit_summary_cv(x, y, np.zeros(8), grid, n_folds=5)
    assert chosen == [{"learning_rate": 0.05, "max_leaf_nodes": 7, "max_iter": 20}] * 2
    assert np.isnan(cv).all() and model.predict(x).shape == (8, 2)


def test_summary_cv_picks_more_boosting_for_a_learnable_label():
    """A label that is a smooth function of one feature needs many iterations, pure noise the
    fewest: the iteration scan of the grouped CV must tell them apart."""
    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(30), 6)
    s = rng.uniform(-1, 1, 30)[groups]
    x = rng.normal(size=(len(groups), 6))
    x[:, 0] = s
    y = np.stack([np.sin(3 * s), rng.normal(size=30)[groups]], axis=1)
    grid = {"learning_rate": [0.1], "max_leaf_nodes": [7], "max_iter": [5, 100]}
    _, chosen, _ = summaries.fit_summary_cv(x, y, groups, grid, n_folds=3)
    assert chosen[0]["max_iter"] == 100 and chosen[1]["max_iter"] == 5


def test_summary_baseline_ignores_a_feature_column_that_is_all_nan():
    """An empty k shell (small cubes, many bins) is NaN in every sample: the fit and the CV
    drop that column instead of failing, and predict the same with or without it."""
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(6), 5)
    x = rng.normal(size=(30, 4))
    y = np.stack([x[:, 0], x[:, 1]], axis=1)
    with_nan = np.concatenate([x[:, :2], np.full((30, 1), np.nan), x[:, 2:]], axis=1)
    a, chosen, cv = summaries.fit_summary_cv(with_nan, y, groups, GRID, n_folds=3)
    b = summaries.SummaryRegressor(chosen).fit(x, y)
    assert np.isfinite(cv).all()
    assert np.allclose(a.predict(with_nan), b.predict(x))


def test_one_point_features_from_the_count_histogram_match_numpy_on_the_voxels():
    rng = np.random.default_rng(7)
    cube = rng.poisson(np.exp(rng.normal(0.5, 1.0, size=(16, 16, 16))))
    x = np.log1p(cube.ravel().astype(np.float64))
    d = x - x.mean()
    want = [x.mean(), x.var(), np.mean(d**3) / x.var() ** 1.5, np.mean(d**4) / x.var() ** 2 - 3,
            *np.quantile(x, QUANTILES), np.mean(cube == 0)]
    assert np.allclose(summaries.one_point_features(cube, QUANTILES), want, rtol=1e-12, atol=1e-12)
    assert np.allclose(summaries.one_point_features(cube.astype(np.float32), QUANTILES), want, rtol=1e-6)
