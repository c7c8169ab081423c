"""Evaluation metrics and baselines against hand-computed values and theory."""
import numpy as np
import pytest

from cosmoflow.evaluate import baselines, metrics
from pycola_wrapper import lpt
from pycola_wrapper.cosmology import Cosmology
from pycola_wrapper.power import eisenstein_hu_pk


def test_metrics_by_hand():
    true = np.array([[0.3, 0.8], [0.25, 0.9]])
    pred = np.array([[0.33, 0.8], [0.25, 0.81]])
    m = metrics.parameter_metrics(pred, true, ["Omega_m", "sigma_8"])
    assert m["Omega_m"]["rel_err_true"] == pytest.approx(0.5 * 0.03 / 0.3)
    assert m["Omega_m"]["rel_err_pred"] == pytest.approx(0.5 * 0.03 / 0.33)
    assert m["sigma_8"]["mae"] == pytest.approx(0.045)
    assert m["sigma_8"]["rmse"] == pytest.approx(np.sqrt(0.09**2 / 2))
    assert m["sigma_8"]["bias"] == pytest.approx(-0.045)
    assert m["Omega_m"]["r2"] == pytest.approx(1 - 0.03**2 / (2 * 0.025**2))
    with pytest.raises(ValueError, match="must both be"):
        metrics.parameter_metrics(pred[:, :1], true, ["Omega_m", "sigma_8"])
    table = metrics.format_table({"network": m}, ["Omega_m", "sigma_8"])
    assert "network" in table and "Omega_m" in table


def test_mean_predictor_r2_is_zero():
    rng = np.random.default_rng(0)
    y = rng.uniform(size=(50, 3))
    pred = baselines.mean_predictor(y, len(y))
    m = metrics.parameter_metrics(pred, y, ["a", "b", "c"])
    assert all(abs(m[k]["r2"]) < 1e-12 for k in "abc")


def test_shell_power_matches_the_input_spectrum():
    cosmo = Cosmology(0.3, 0.8, 0.96, 70.0)
    n, side = 64, 256.0
    ratios = []
    for seed in range(4):
        dk = lpt.linear_delta_k(lpt.white_noise(n, seed), side, lambda k: eisenstein_hu_pk(k, cosmo))
        k, pk = baselines.shell_power(1.0 + lpt.to_real(dk, n), side, 12)
        ratios.append(pk / eisenstein_hu_pk(k, cosmo))
    mean = np.mean(ratios, axis=0)
    assert np.all(np.abs(mean[3:] - 1) < 0.03), mean  # many modes per bin: within 3 %


def test_band_power_equals_direct_binning_across_geometries():
    """band_power bins the modes of each geometry once (a cache): interleaving cube sizes, sides
    and bands must give exactly what binning each cube's modes anew gives."""
    rng = np.random.default_rng(3)

    def direct(counts, side, edges):
        s = counts.shape[0]
        delta = counts.astype(np.float32) / np.float32(counts.mean()) - 1.0
        power = np.abs(np.fft.rfftn(delta)) ** 2 * side**3 / s**6
        f = np.fft.fftfreq(s, 1.0 / s)
        h = np.arange(s // 2 + 1)
        kmag = 2 * np.pi / side * np.sqrt(f[:, None, None]**2 + f[None, :, None]**2 + h**2)
        w = np.where((h == 0) | ((s % 2 == 0) & (h == s // 2)), 1.0, 2.0) * np.ones_like(kmag)
        pk = [np.sum((w * power)[m]) / np.sum(w[m]) if m.any() else np.nan
              for m in ((kmag >= lo) & (kmag < hi) for lo, hi in zip(edges[:-1], edges[1:]))]
        return np.array(pk)

    cases = [(16, 64.0, np.linspace(0.1, 0.8, 7)), (15, 30.0, np.linspace(0.2, 1.7, 11)),
             (16, 64.0, np.linspace(0.05, 0.3, 4)), (16, 32.0, np.linspace(0.1, 0.8, 7))]
    for size, side, edges in cases * 2:
        counts = rng.poisson(2.0, (size,) * 3)
        _, pk = baselines.band_power(counts, side, edges)
        np.testing.assert_allclose(pk, direct(counts, side, edges), rtol=1e-5, equal_nan=True)


def test_ridge_pk_recovers_amplitude():
    """log P(k) features are linear in log sigma_8: the ridge baseline must recover sigma_8."""
    cosmo = Cosmology(0.3, 0.8, 0.96, 70.0)
    n, side = 32, 128.0
    rng = np.random.default_rng(1)
    s8 = rng.uniform(0.78, 0.95, 24)
    feats = []
    for i, s in enumerate(s8):
        c = Cosmology(0.3, float(s), 0.96, 70.0)
        dk = lpt.linear_delta_k(lpt.white_noise(n, 100 + i), side, lambda k: eisenstein_hu_pk(k, c))
        feats.append(baselines.pk_features([3.0 + lpt.to_real(dk, n)], side, 6)[0])
    feats = np.array(feats)
    model = baselines.RidgePk(1e-3).fit(feats[:16], s8[:16, None])
    err = np.abs(model.predict(feats[16:])[:, 0] - s8[16:])
    base = np.abs(s8[:16].mean() - s8[16:])
    assert err.mean() < 0.5 * base.mean()


def test_group_folds_keep_simulations_whole():
    groups = np.repeat(np.arange(7), 8)  # 7 simulations x 8 sub-volumes
    folds = baselines.group_folds(groups, 3)
    assert len(folds) == 3
    assert np.all(np.sum(folds, axis=0) == 1)  # every sample held out exactly once
    for held in folds:
        assert not set(groups[held]) & set(groups[~held])


def test_ridge_cv_penalises_noise_and_keeps_signal():
    """Grouped CV picks a large penalty for a label the features do not predict, a small one
    for a label they do, and the refitted model then beats the mean on the informative label."""
    rng = np.random.default_rng(3)
    n_sims, per_sim, n_feat = 30, 8, 12
    groups = np.repeat(np.arange(n_sims), per_sim)
    signal = rng.normal(size=n_sims)[groups]
    X = rng.normal(size=(len(groups), n_feat))
    X[:, 0] += 10.0 * signal
    Y = np.stack([signal + 0.1 * rng.normal(size=len(groups)),        # predictable
                  rng.normal(size=n_sims)[groups]], axis=1)          # pure noise per sim
    alphas = np.logspace(-4, 3, 8)
    model, chosen, cv = baselines.fit_ridge_cv(X, Y, groups, alphas, n_folds=5)
    assert cv.shape == (8, 2)
    assert chosen[0] <= 1e-1 < 1e2 <= chosen[1], chosen
    test = rng.normal(size=(50, n_feat))
    s = rng.normal(size=50)
    test[:, 0] += 10.0 * s
    err = np.abs(model.predict(test)[:, 0] - s).mean()
    assert err < 0.3 * np.abs(s - Y[:, 0].mean()).mean()


def test_ridge_cv_out_of_fold_estimates_are_the_fold_fits_at_the_chosen_penalty():
    """fit_ridge_cv_oof's CV errors are those of ridges refitted without each fold's
    simulations, its penalties their per-label minima, and its out-of-fold estimates, per
    label, those refits at the label's chosen penalty (computed here fold by fold)."""
    from cosmoflow.ridge import RidgePk, fit_ridge_cv_oof

    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(20), 4)
    X = rng.normal(size=(80, 6))
    Y = np.stack([X[:, 0] + 0.3 * rng.normal(size=80), rng.normal(size=20)[groups]], axis=1)
    alphas = [1e-3, 1e-1, 10.0, 1e3]
    model, chosen, cv, oof = fit_ridge_cv_oof(X, Y, groups, alphas, n_folds=4)
    folds = baselines.group_folds(groups, 4)
    expect_cv = np.zeros((len(alphas), 2))
    for a, row in zip(alphas, expect_cv):
        for held in folds:
            row += ((RidgePk(a).fit(X[~held], Y[~held]).predict(X[held]) - Y[held]) ** 2).sum(0)
    np.testing.assert_allclose(cv, expect_cv / len(Y), rtol=1e-10)
    np.testing.assert_array_equal(chosen, np.asarray(alphas)[np.argmin(expect_cv, axis=0)])
    assert chosen[0] != chosen[1]              # the per-label pick is exercised
    np.testing.assert_allclose(model.predict(X), RidgePk(chosen).fit(X, Y).predict(X), rtol=1e-12)
    expect = np.empty_like(Y)
    for held in folds:
        expect[held] = RidgePk(chosen).fit(X[~held], Y[~held]).predict(X[held])
    np.testing.assert_allclose(oof, expect, rtol=1e-10, atol=1e-12)
    assert not np.allclose(oof, model.predict(X))   # held-out estimates, not the full fit


def test_ridge_cv_with_one_simulation_takes_the_largest_penalty():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, 4)), rng.normal(size=(8, 2))
    model, chosen, cv = baselines.fit_ridge_cv(X, Y, np.zeros(8), [1e-3, 1.0, 10.0])
    assert list(chosen) == [10.0, 10.0] and np.isnan(cv).all()
    assert model.predict(X).shape == (8, 2)


def test_ridge_pk_of_two_redshifts_measures_growth():
    """Samples stacking two redshifts of one field (same phases, the second scaled by a growth
    ratio r, as D(z)/D(0) depends on Omega_M): the z = 0 channel's P(k) carries nothing on r,
    both channels' P(k) measure it (cosmic variance cancels in the ratio)."""
    cosmo = Cosmology(0.3, 0.8, 0.96, 70.0)
    n, side = 16, 128.0
    rng = np.random.default_rng(2)
    r = rng.uniform(0.3, 0.4, 40)
    cubes = []
    for i, ri in enumerate(r):
        d = lpt.to_real(lpt.linear_delta_k(lpt.white_noise(n, 300 + i), side,
                                           lambda k: eisenstein_hu_pk(k, cosmo)), n)
        cubes.append(np.stack([4.0 + d, 4.0 + ri * d], axis=-1))
    feats2 = baselines.pk_features(cubes, side, 4)
    feats1 = baselines.pk_features([c[..., 0] for c in cubes], side, 4)
    assert feats2.shape == (40, 8) and np.allclose(feats2[:, :4], feats1)
    base = np.abs(r[:30].mean() - r[30:]).mean()
    for feats, good in ((feats1, False), (feats2, True)):
        model = baselines.RidgePk(1e-4).fit(feats[:30], r[:30, None])
        err = np.abs(model.predict(feats[30:])[:, 0] - r[30:]).mean()
        assert (err < 0.1 * base) if good else (err > 0.5 * base), (good, err, base)


def test_stage_writes_metrics_with_intervals_comparisons_and_the_summary_baseline(tmp_path):
    """The evaluate stage on tiny synthetic records (4 training simulations, 1 test simulation)
    and a trivial Keras model: metrics.json has both levels, every predictor with intervals and
    r2_prior, the network against each baseline, the best baseline, and the few-simulations
    warning; predictions.csv has the summary baseline's columns."""
    import csv
    import json

    import keras

    from cosmoflow.evaluate import stage
    from datagen import make_splits, small_config

    cfg = small_config()
    cfg["evaluate"].update(n_bootstrap=200, pk_bins=24,  # 24 shells in 16^3 cubes: some empty (NaN)
                           summary={**cfg["evaluate"]["summary"], "max_iter": [5, 10]})
    make_splits(tmp_path, cfg)
    inp = keras.Input((16, 16, 16, 1))
    model = keras.Model(inp, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling3D()(inp)))
    model.save(tmp_path / "model.keras")
    (tmp_path / "history.csv").write_text("epoch,loss,val_loss\n0,1.0,1.1\n1,0.5,0.7\n")
    out = tmp_path / "evaluate"
    stage.run(model=str(tmp_path / "model.keras"), test_manifest=str(tmp_path / "tfrecords/test"),
              train_manifest=str(tmp_path / "tfrecords/train"), history=str(tmp_path / "history.csv"),
              voxel_files=[], power_tables=[], config=cfg, out_dir=str(out))
    m = json.loads((out / "metrics.json").read_text())
    names = m["label_names"]
    assert m["n_test_sims"] == 1 and m["n_train_sims"] == 4 and m["n_test"] == 8
    assert any("few test simulations" in w and "intervals are wide" in w for w in m["warnings"])
    assert set(m["sd_prior"]) == set(names) and set(m["summary_params"]) == set(names)
    per_sample = {"network", "mean", "pk_ridge", "summary", "summary_ridge"}
    levels = {"per_sample": (per_sample, "network"),
              "sample_level": (per_sample | {"network_stats"}, "network_stats"),
              "per_simulation": (per_sample | {"box_pk_ridge", "box_stats_ridge"}, "network"),
              "simulation_level": (per_sample | {"network_box", "box_pk_ridge", "box_stats_ridge"},
                                   "network_box")}
    for level, (predictors, ref) in levels.items():
        block = m[level]
        assert set(block["metrics"]) == predictors
        for p in predictors:
            for n in names:
                row = block["metrics"][p][n]
                assert all(np.isfinite(row[k]) for k in ("rel_err_true", "rmse", "r2_prior", "bias")), (p, n)
                assert row["r2"] is None  # one test simulation: R^2 undefined, written as null
                lo, hi = row["interval"]["rmse"]
                assert lo <= row["rmse"] + 1e-12 and row["rmse"] <= hi + 1e-12
        assert set(block["comparisons"]) == {f"{ref}_vs_{b}" for b in predictors - {ref}}
        for n in names:
            best = block["best_baseline"][n]
            assert best["baseline"] in predictors - {ref}
            assert best["rmse"] == min(block["metrics"][b][n]["rmse"] for b in predictors - {ref})
            assert isinstance(best[f"{ref}_beats"], bool)
    assert m["per_simulation"]["metrics"]["network"][names[0]]["n"] == 1
    rows = list(csv.reader((out / "predictions.csv").open()))
    assert rows[0][-9:] == [f"{p}_{n}" for p in ("summary", "summary_ridge", "network_stats") for n in names]
    assert len(rows) == 9
    assert set(m["sample_level_alphas"]["network_stats"]) == set(names) == set(m["summary_ridge_alphas"])
    rows = list(csv.reader((out / "predictions_simulation.csv").open()))
    assert len(rows) == 2 and rows[0][:4] == ["sim"] + [f"true_{n}" for n in names]
    assert rows[0][4:7] == [f"network_box_{n}" for n in names] and "box_pk_ridge_" + names[0] in rows[0]
    assert set(m["simulation_level_alphas"]) == {"network_box", "box_pk_ridge", "box_stats_ridge"}
    assert (out / "pred_vs_true.png").read_bytes()[:4] == b"\x89PNG"
    from cosmoflow.evaluate import combinations
    combos = combinations.load(out / "combinations.json")   # for predict (tests/test_predict.py)
    assert combos.label_names == names and combos.box_voxels == 32 and combos.sample_side == 32.0
    assert combos.network_stats.n_features == 3 + 24 + 5 + len(cfg["evaluate"]["summary"]["quantiles"])


def test_ridge_state_round_trips_through_json():
    """A fitted ridge written with state() and read with from_state() predicts bit for bit the
    same, kept columns included; a state of inconsistent shapes is refused naming its source."""
    import json

    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 6))
    x[0, 2] = np.nan                                    # a column left out of the fit
    y = x[:, [0, 1]] @ np.array([[1.0, 0.5], [-2.0, 0.1]]) + 0.01 * rng.normal(size=(40, 2))
    model = baselines.RidgePk([1e-3, 0.1]).fit(x, y)
    again = baselines.RidgePk.from_state(json.loads(json.dumps(model.state())))
    test = rng.normal(size=(7, 6))
    assert np.array_equal(again.predict(test), model.predict(test))
    assert again.n_features == 6 and not again.keep[2]
    bad = {**model.state(), "coef": [[1.0]]}
    with pytest.raises(ValueError, match="my.json: network_box: inconsistent shapes"):
        baselines.RidgePk.from_state(bad, "my.json: network_box")
    with pytest.raises(ValueError, match=r"missing key\(s\) \['keep'\]"):
        baselines.RidgePk.from_state({k: v for k, v in model.state().items() if k != "keep"})


def test_ridge_leaves_out_feature_columns_that_are_not_finite():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 3))
    Y = X[:, :1] * 2.0
    with_nan = np.concatenate([X, np.full((40, 1), np.nan)], axis=1)
    a = baselines.RidgePk(1e-3).fit(with_nan, Y)
    b = baselines.RidgePk(1e-3).fit(X, Y)
    assert np.allclose(a.predict(with_nan), b.predict(X)) and np.isfinite(a.predict(with_nan)).all()

