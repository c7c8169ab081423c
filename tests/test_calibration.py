"""Calibrated widths (cosmoflow.evaluate.calibration): coverage on synthetic estimates whose
true error distribution is known, the per-simulation combination, and the evaluate stage with a
gaussian head."""
import numpy as np
import pytest

from cosmoflow.evaluate import bootstrap, calibration


def gaussian_linear(n_sims, per_sim, seed, misreport=1.0):
    """A Gaussian linear model: each sample measures theta with noise of a known sd (varying
    from sample to sample); the reported width is misreport x the true sd."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0.25, 0.35, (n_sims, 2))
    groups = np.repeat(np.arange(n_sims), per_sim)
    true = theta[groups]
    sd = rng.uniform(0.005, 0.03, true.shape)
    mu = true + sd * rng.standard_normal(true.shape)
    return mu, sd * misreport, true, groups


LEVELS = sorted({0.6827, 0.95} | set(calibration.CURVE_LEVELS))


def test_z_of_levels():
    assert calibration.z_of(0.6827) == pytest.approx(1.0, abs=1e-3)
    assert calibration.z_of(0.95) == pytest.approx(1.96, abs=1e-3)
    with pytest.raises(ValueError, match="expected in"):
        calibration.z_of(1.0)


def test_coverage_is_nominal_when_widths_are_right_and_restored_when_misreported():
    for misreport in (1.0, 0.5, 2.0):
        mu_v, sd_v, true_v, _ = gaussian_linear(200, 8, seed=1, misreport=misreport)
        scale = calibration.fit_scale(mu_v, sd_v, true_v)
        np.testing.assert_allclose(scale, 1.0 / misreport, rtol=0.05)
        radii = calibration.fit_radii(mu_v, sd_v, true_v, LEVELS)
        assert {r["method"] for r in radii.values()} == {"quantile"}
        np.testing.assert_allclose(radii[0.6827]["radius"], 1.0 / misreport, rtol=0.08)
        np.testing.assert_allclose(radii[0.95]["radius"], 1.96 / misreport, rtol=0.08)
        mu, sd, true, groups = gaussian_linear(200, 8, seed=2, misreport=misreport)
        raw = calibration.covered(mu, sd, true, 0.6827).mean(axis=0)
        w = bootstrap.resample_weights(200, 300, 0)
        rep = calibration.report(mu, sd, true, groups, ["a", "b"], radii=radii, weights=w,
                                 confidence=0.95)
        for name in ("a", "b"):
            for level in (0.6827, 0.95):
                c = rep[name]["coverage"][f"{level:g}"]
                assert abs(c["value"] - level) < 0.02, (misreport, name, level, c)
                assert c["interval"][0] <= c["value"] <= c["interval"][1]
            assert rep[name]["mean_sd"] == pytest.approx(rep[name]["rmse"], rel=0.35)
        if misreport != 1.0:   # uncalibrated, the coverage is far off
            assert np.all(np.abs(raw - 0.6827) > 0.15), (misreport, raw)


def test_quantile_radii_cover_heavy_tailed_residuals_where_a_gaussian_scale_does_not():
    """Residuals / widths from a Student t (3 dof): one unit-RMS factor puts too much inside
    the 68 % interval; the validation quantiles give both levels their coverage."""
    rng = np.random.default_rng(5)

    def draw(n):
        sd = rng.uniform(0.01, 0.03, (n, 1))
        return sd * rng.standard_t(3, (n, 1)), sd, np.zeros((n, 1))
    mu_v, sd_v, true_v = draw(4000)
    mu, sd, true = draw(4000)
    radii = calibration.fit_radii(mu_v, sd_v, true_v, LEVELS)
    rms = calibration.fit_scale(mu_v, sd_v, true_v)
    for q in (0.6827, 0.95):
        assert abs(calibration.covered(mu, sd, true, q, radii[q]["radius"]).mean() - q) < 0.02
    assert calibration.covered(mu, sd, true, 0.6827, rms).mean() > 0.6827 + 0.07
    # too few validation estimates for the 95 % quantile rank: the Gaussian fit, said so
    few = calibration.fit_radii(mu_v[:16], sd_v[:16], true_v[:16], [0.6827, 0.95])
    assert few[0.6827]["method"] == "quantile" and few[0.95]["method"] == "rms"
    np.testing.assert_allclose(few[0.95]["radius"],
                               1.96 * calibration.fit_scale(mu_v[:16], sd_v[:16], true_v[:16]), rtol=1e-3)


def test_combination_is_the_precision_weighted_mean_and_its_width_is_right():
    mu, sd, true, groups = gaussian_linear(400, 8, seed=3)
    mu_s, sd_s, sims = calibration.combine(mu, sd, groups)
    i = groups == sims[5]
    w = 1.0 / sd[i] ** 2
    np.testing.assert_allclose(mu_s[5], (w * mu[i]).sum(0) / w.sum(0))
    np.testing.assert_allclose(sd_s[5], w.sum(0) ** -0.5)
    # independent sub-volumes: the combined width is right, no calibration needed
    true_s = true[np.searchsorted(groups, sims)]
    np.testing.assert_allclose(calibration.fit_scale(mu_s, sd_s, true_s), 1.0, rtol=0.08)
    # a shared error per simulation (correlated sub-volumes): the combined width is too narrow,
    # and the validation scale measures by how much
    shift = 0.01 * np.random.default_rng(4).standard_normal((400, 2))
    mu_c, sd_c, _ = calibration.combine(mu + shift[groups], sd, groups)
    assert np.all(calibration.fit_scale(mu_c, sd_c, true_s) > 1.5)
    with pytest.raises(ValueError, match="positive"):
        calibration.combine(mu, -sd, groups)


def test_stage_with_a_gaussian_head_reports_calibrated_coverage(tmp_path):
    """A model with 2 outputs per label: metrics.json gets the uncertainty block (both levels,
    radii fitted on the calibration split it is given, coverage with intervals), predictions.csv
    the widths, calibration.png is drawn; without a calibration split the stage says what it
    needs."""
    import csv
    import json

    import keras

    from cosmoflow.evaluate import stage
    from datagen import make_splits, small_config

    cfg = small_config()
    cfg["evaluate"].update(n_bootstrap=200, summary={**cfg["evaluate"]["summary"], "max_iter": [5]})
    cfg["sims"].update(n_sims=7, n_cal=1)
    make_splits(tmp_path, cfg)
    inp = keras.Input((16, 16, 16, 1))
    model = keras.Model(inp, keras.layers.Dense(6)(keras.layers.GlobalAveragePooling3D()(inp)))
    model.save(tmp_path / "model.keras")
    (tmp_path / "history.csv").write_text("epoch,loss,val_loss\n0,1.0,-0.5\n1,0.5,-0.7\n")
    kw = dict(model=str(tmp_path / "model.keras"), test_manifest=str(tmp_path / "tfrecords/test"),
              train_manifest=str(tmp_path / "tfrecords/train"), history=str(tmp_path / "history.csv"),
              voxel_files=[], power_tables=[], config=cfg)
    with pytest.raises(ValueError, match="gaussian head.*calibration_manifest"):
        stage.run(**kw, out_dir=str(tmp_path / "no_cal"))
    out = tmp_path / "evaluate"
    stage.run(**kw, out_dir=str(out), calibration_manifest=str(tmp_path / "tfrecords/cal"))
    m = json.loads((out / "metrics.json").read_text())
    names = m["label_names"]
    u = m["uncertainty"]
    assert u["calibration_split"] == "cal" and u["n_calibration_sims"] == 1
    # the radii are those of the calibration split's estimates, not validation's
    scales = {}
    for s in ("cal", "val"):
        mu_s, sd_s, true_s, ids = stage.predict_with_widths(str(tmp_path / "model.keras"),
                                                            str(tmp_path / f"tfrecords/{s}"),
                                                            cfg["data"]["input_norm"])
        radii = calibration.fit(mu_s, sd_s, true_s, [d["sim"] for d in ids])
        scales[s] = radii["per_sample"][0.6827]["radius"]
    got = [u["per_sample"][n]["scale"] for n in names]
    np.testing.assert_allclose(got, scales["cal"], rtol=1e-12)
    assert not np.allclose(got, scales["val"], rtol=1e-3)
    for level in ("per_sample", "per_simulation"):
        for n in names:
            b = u[level][n]
            assert b["scale"] > 0 and b["mean_sd"] > 0
            for q in ("0.6827", "0.95"):
                c = b["coverage"][q]
                assert 0.0 <= c["interval"][0] <= c["value"] <= c["interval"][1] <= 1.0
            assert len(b["curve"]["nominal"]) == len(b["curve"]["empirical"])
    rows = list(csv.reader((out / "predictions.csv").open()))
    assert rows[0][-3:] == [f"sd_{n}" for n in names]
    assert all(float(v) > 0 for r in rows[1:] for v in r[-3:])
    head = next(csv.reader((out / "predictions_simulation.csv").open()))
    assert [f"gaussian_sd_{n}" for n in names] == head[-3:]
    assert (out / "calibration.png").read_bytes()[:4] == b"\x89PNG"
