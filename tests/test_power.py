"""Power spectra (real CLASS), EH98, growth: compared with theory and with each other."""
import json

import numpy as np
import pytest

from cosmoflow import config as cfgmod
from cosmoflow import power
from pycola_wrapper import cosmology as cm
from pycola_wrapper.power import OutOfTableError, PowerTable, eisenstein_hu_pk, sigma_R

COSMO = cm.Cosmology(Omega_m=0.3, sigma_8=0.8, n_s=0.96, H0=70.3)


@pytest.fixture(scope="module")
def class_table():
    return power.make_table(COSMO, "class", 1e-4, power.k_max_for(512, 512), 512, 0.01, 128)


@pytest.mark.parametrize("cosmo", [COSMO, cm.Cosmology(0.26, 0.93, 0.91, 70.3),
                                   cm.Cosmology(0.34, 0.79, 0.99, 70.3)])
def test_class_sigma8_reproduced(cosmo):
    t = power.make_table(cosmo, "class", 1e-4, 10.0, 512, 0.01, 16)
    assert sigma_R(t.k, t.pk, 8.0) == pytest.approx(cosmo.sigma_8, rel=3e-3)
    assert t.attrs["transfer"] == "class"


def test_k_range_covers_the_mesh(class_table):
    k_ny = np.pi * 512 / 512
    assert class_table.k[-1] >= np.sqrt(3) * k_ny
    assert class_table.k[0] <= 1e-4 * (1 + 1e-12)


def test_eisenstein_hu_vs_class(class_table):
    k = np.logspace(-3, 0, 200)
    ratio = eisenstein_hu_pk(k, COSMO) / class_table.P(k)
    assert np.max(np.abs(ratio - 1)) < 0.05
    assert sigma_R(k, eisenstein_hu_pk(k, COSMO)) > 0


def test_eisenstein_hu_normalisation_and_shape():
    k = np.logspace(-4, 1.5, 1000)
    pk = eisenstein_hu_pk(k, COSMO)
    assert sigma_R(k, pk, 8.0) == pytest.approx(0.8, rel=1e-3)
    # large scales: P ~ k^n_s; the turnover sits near k_eq ~ 0.01-0.02 h/Mpc for Omega_m = 0.3
    slope = np.log(pk[1] / pk[0]) / np.log(k[1] / k[0])
    assert slope == pytest.approx(COSMO.n_s, abs=0.01)
    assert 0.01 < k[np.argmax(pk)] < 0.03


def test_table_raises_outside_its_range(class_table, tmp_path):
    with pytest.raises(OutOfTableError, match="outside the tabulated range"):
        class_table.P(np.array([1e-5, 0.1]))
    with pytest.raises(OutOfTableError):
        class_table.P(class_table.k[-1] * 1.01)
    with pytest.raises(OutOfTableError):
        class_table.growth(0.001)
    with pytest.raises(OutOfTableError):
        class_table.growth_rate(1.5)
    path = tmp_path / "p.h5"
    class_table.save(path)
    back = PowerTable.load(path)
    np.testing.assert_array_equal(back.pk, class_table.pk)
    assert back.cosmology() == COSMO
    with pytest.raises(OutOfTableError, match="p.h5"):
        back.P(100.0)


def test_load_errors_name_the_file(tmp_path):
    import h5py
    bad = tmp_path / "foreign.h5"
    with h5py.File(bad, "w") as h5:
        h5["k"] = np.ones(3)
    with pytest.raises(KeyError, match=r"foreign.h5: missing dataset\(s\) \['pk'"):
        PowerTable.load(bad)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(OSError, match="junk.h5"):
        PowerTable.load(junk)


def test_growth_against_known_values():
    a49 = 1 / 50
    assert cm.growth_D1(a49, COSMO.__class__(0.3, 0.8, 0.96, 70.0)) == pytest.approx(0.0256745, rel=1e-5)
    c = cm.Cosmology(0.3, 0.8, 0.96, 70.0)
    assert cm.vfact(a49, c) == pytest.approx(387.298, rel=1e-5)
    assert cm.vfact(1.0, c) == pytest.approx(51.2796, rel=1e-5)
    # Einstein-de Sitter: D = a, f = 1, D2 = a^2
    eds = cm.Cosmology(1.0, 0.8, 0.96, 70.0, Omega_b=0.0)
    a = np.array([0.1, 0.5, 1.0])
    np.testing.assert_allclose(cm.growth_D1(a, eds), a, rtol=1e-9)
    np.testing.assert_allclose(cm.growth_f(a, eds), 1.0, rtol=1e-9)
    np.testing.assert_allclose(cm.growth_D2(a, eds), a**2, rtol=1e-9)


def test_growth_rate_is_the_log_derivative():
    a = np.array([0.1, 0.3, 0.7, 1.0])
    eps = 1e-5
    num = (np.log(cm.growth_D1(a * (1 + eps), COSMO)) - np.log(cm.growth_D1(a * (1 - eps), COSMO))) / (
        np.log1p(eps) - np.log1p(-eps))
    np.testing.assert_allclose(cm.growth_f(a, COSMO), num, rtol=1e-6)


def test_bad_transfer_is_named():
    with pytest.raises(ValueError, match="power.transfer = 'camb'"):
        power.make_table(COSMO, "camb", 1e-4, 1.0, 64, 0.01, 16)


# --------------------------------------------------------------------------------------------
# amplitude: sigma_8 or A_s (the other derived by CLASS)
def _row(**kw):
    row = {"sim": "00007", "seed": 1, "split": "train", "Omega_m": 0.3, "Omega_L": 0.7,
           "Omega_b": 0.045, "sigma_8": 0.8, "A_s": None, "n_s": 0.96, "H0": 70.3, "h": 0.703,
           "box": 256.0, "n_particles": 128}
    return row | kw


CFG_S8 = {"sigma_8": [0.78, 0.95], "A_s": None, "H0": 70.3, "T_cmb": 2.7255}
CFG_AS = {"sigma_8": None, "A_s": [1.5e-9, 2.6e-9], "H0": 70.3, "T_cmb": 2.7255}


def test_sigma8_input_unchanged():
    """The sigma_8 configs give CLASS exactly the input they gave before A_s existed (so their
    power tables are the same numbers)."""
    assert power.class_params(COSMO, 3.0) == {
        "output": "mPk", "P_k_max_h/Mpc": 3.0, "z_max_pk": 0.0, "h": COSMO.H0 / 100.0,
        "Omega_b": COSMO.Omega_b, "Omega_cdm": COSMO.Omega_m - COSMO.Omega_b, "n_s": COSMO.n_s,
        "sigma8": COSMO.sigma_8, "T_cmb": COSMO.T_cmb}
    with_as = power.class_params(COSMO, 3.0, A_s=2e-9)
    assert "sigma8" not in with_as and with_as["A_s"] == 2e-9


def test_complete_row_round_trip():
    """sigma_8 -> A_s (CLASS shooting) -> sigma_8 (CLASS from A_s) comes back to 1e-5, and
    sigma_8 scales as sqrt(A_s)."""
    full = power.complete_row(_row(), CFG_S8)
    assert 1.7e-9 < full["A_s"] < 2.0e-9 and full["sigma_8"] == 0.8
    back = power.complete_row(_row(sigma_8=None, A_s=full["A_s"]), CFG_AS)
    assert back["sigma_8"] == pytest.approx(0.8, rel=1e-5) and back["A_s"] == full["A_s"]
    quad = power.complete_row(_row(sigma_8=None, A_s=4 * full["A_s"]), CFG_AS)
    assert quad["sigma_8"] == pytest.approx(2 * back["sigma_8"], rel=1e-9)
    with pytest.raises(ValueError, match="sim 00007: sigma_8 is not known yet"):
        power.cosmology_from_row(_row(sigma_8=None, A_s=2e-9), CFG_AS)


def test_a_s_table_is_the_sigma8_table():
    """The power stage with A_s (CLASS from A_s) and with the derived sigma_8 (CLASS normalised
    to it) tabulate the same P(k); a row whose sigma_8 is not CLASS's for its A_s is refused."""
    row = power.complete_row(_row(sigma_8=None, A_s=2.2e-9), CFG_AS)
    cosmo = power.cosmology_from_row(row, CFG_AS)
    # k_max 10 h/Mpc: both runs have P_k_max 10.5 (CLASS's last few per cent of k below its
    # P_k_max move by ~3e-4 with P_k_max; the A_s runs use P_k_max >= SIGMA8_K_MAX)
    t_as = power.make_table(cosmo, "class", 1e-4, 10.0, 256, 0.01, 16, A_s=row["A_s"], amplitude="A_s")
    t_s8 = power.make_table(cosmo, "class", 1e-4, 10.0, 256, 0.01, 16)
    np.testing.assert_allclose(t_as.pk, t_s8.pk, rtol=2e-5)
    assert t_as.attrs["amplitude"] == "A_s" and t_as.attrs["A_s"] == row["A_s"]
    assert t_as.attrs["sigma_8"] == row["sigma_8"]
    assert t_as.attrs["sigma8_table"] == pytest.approx(row["sigma_8"], rel=1e-4)
    wrong = cm.Cosmology(0.3, row["sigma_8"] * 1.01, 0.96, 70.3)
    with pytest.raises(ValueError, match="CLASS returns sigma_8 = .* the row says"):
        power.make_table(wrong, "class", 1e-4, 3.0, 64, 0.01, 16, A_s=row["A_s"], amplitude="A_s")
    # EH98 with A_s: normalised to the sigma_8 CLASS derived from it
    t_eh = power.make_table(cosmo, "eisenstein", 1e-4, 10.0, 256, 0.01, 16, A_s=row["A_s"], amplitude="A_s")
    assert t_eh.attrs["sigma8_table"] == pytest.approx(row["sigma_8"], rel=2e-3)


# --------------------------------------------------------------------------------------------
# CLASS cost: one run per call, and power.class_precision (docs/pipeline.md, "CLASS cost")
def test_shoot_a_s_is_classys_sigma8_shooting():
    """complete_row's one-run shooting returns, bit for bit, the A_s that classy derives from a
    sigma8 input (which costs it a second CLASS run)."""
    c = {"Omega_m": 0.34, "Omega_b": 0.045, "n_s": 0.99, "h": 0.703, "T_cmb": 2.7255, "sigma_8": 0.79}
    classy_as = power.run_class(power.class_params(c, power.SIGMA8_K_MAX),
                                lambda e: e.get_current_derived_parameters(["A_s"])["A_s"])
    assert power.shoot_A_s(c, 0.79) == classy_as
    assert power.complete_row(_row(Omega_m=0.34, sigma_8=0.79, n_s=0.99), CFG_S8)["A_s"] == classy_as


def test_table_from_the_rows_a_s_is_the_sigma8_table():
    """sigma_8 amplitude: the power stage's one CLASS run from the row's A_s tabulates, bit for
    bit, what the sigma8 input (CLASS's shooting, two runs) does; a row whose sigma_8 is not its
    A_s's is refused."""
    row = power.complete_row(_row(), CFG_S8)
    cosmo = power.cosmology_from_row(row, CFG_S8)
    k_max = power.k_max_for(256.0, 128)
    one = power.make_table(cosmo, "class", 1e-4, k_max, 256, 0.01, 16, A_s=row["A_s"])
    two = power.make_table(cosmo, "class", 1e-4, k_max, 256, 0.01, 16)
    np.testing.assert_array_equal(one.pk, two.pk)
    wrong = cm.Cosmology(0.3, 0.8 * 1.001, 0.96, 70.3)
    with pytest.raises(ValueError, match="CLASS returns sigma_8 = .* the row says .*tolerance 0.0002"):
        power.make_table(wrong, "class", 1e-4, k_max, 64, 0.01, 16, A_s=row["A_s"])


def test_fast_class_precision_is_within_0p1_percent():
    """power.FAST_CLASS_PRECISION through both CLASS calls (complete_row and the table) gives P(k)
    within 0.1 % of CLASS's defaults up to the 128^3 mesh's k_max, and does reach CLASS (the
    tables differ); the table records it."""
    fast = power.FAST_CLASS_PRECISION
    cfg = cfgmod.load()
    cfg["power"]["class_precision"] = fast
    assert cfgmod.schema_errors(cfg) == []      # a valid config value
    ref_row, fast_row = power.complete_row(_row(), CFG_S8), power.complete_row(_row(), CFG_S8, fast)
    assert fast_row["A_s"] != ref_row["A_s"]
    assert fast_row["A_s"] == pytest.approx(ref_row["A_s"], rel=1e-3)
    cosmo = power.cosmology_from_row(ref_row, CFG_S8)
    k_max = power.k_max_for(256.0, 128)
    ref = power.make_table(cosmo, "class", 1e-4, k_max, 512, 0.01, 16, A_s=ref_row["A_s"])
    got = power.make_table(cosmo, "class", 1e-4, k_max, 512, 0.01, 16, A_s=fast_row["A_s"],
                           precision=fast)
    err = np.max(np.abs(got.pk / ref.pk - 1.0))
    assert 0.0 < err < 1e-3
    assert json.loads(got.attrs["class_precision"]) == fast and "class_precision" not in ref.attrs
