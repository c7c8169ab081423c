"""The A_s parameterisation end to end through the stage functions (no Snakemake):
config (A_s varied) -> drawn row -> sigma_8 by CLASS (rule cosmology) -> power table from A_s ->
MUSIC .conf + builtin ICs -> the amplitude measured in the ICs' linear field.

What is measured (docs/data.md, "Parameterisation"): a 128^3 grid in 256 Mpc/h (the default
geometry) resolves 0.025 < k < 1.57 h/Mpc, so sigma_8 is not integrated from the field itself
(its top-hat integral is dominated by the few hundred modes below 0.2 h/Mpc: ~3 % cosmic
variance). Instead the ICs' P(k) is compared with the power table mode by mode:
A = <|delta_k|^2 L^3 / N^6 / P_table(k)> over the ~1.1 M modes with 0 < k < k_Nyquist
(delta_k = -i k . Psi1_k of the /lpt/psi1 field COLA reads; each mode's ratio is exponential with
mean A, so A is known to ~0.15 %), and sigma_8(ICs) = sqrt(A) sigma_8(table), the table's top-hat
integral. That is compared with the sigma_8 CLASS derived from A_s, which the .conf and
cosmology.json carry: they must agree within 0.5 %. A 1 % error in the IC amplitude (a table
scaled by 1.02 in P) is detected by the same measurement.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.fft as sfft

from conftest import ROOT
from cosmoflow import config as cfgmod
from cosmoflow import ics as ics_stage
from cosmoflow import power, sampling
from pycola_wrapper import ics as pics
from pycola_wrapper import music_conf as mc
from pycola_wrapper.power import PowerTable, sigma_R

SIGMA8_RTOL = 5e-3      # the round-trip tolerance


def ic_amplitude(psi1: np.ndarray, box: float, table: PowerTable) -> dict:
    """Amplitude of the ICs' linear density relative to the table: A = mean over modes of
    P_IC(k) / P_table(k), modes with 0 < |k| < k_Nyquist and no Nyquist component.

    psi1 : (3, N, N, N) [Mpc/h] at D1 = 1; box [Mpc/h]. Returns A, its standard error, the
    number of modes and the ratio in 6 log k bins (k [h/Mpc], ratio, modes).
    """
    n = psi1.shape[1]
    kf = 2 * np.pi / box
    full = np.fft.fftfreq(n, 1.0 / n)
    half = np.arange(n // 2 + 1)
    ks = [full[:, None, None], full[None, :, None], half[None, None, :]]
    delta = np.zeros((n, n, n // 2 + 1), np.complex128)
    for j in range(3):
        delta += -1j * kf * ks[j] * sfft.rfftn(psi1[j].astype(np.float64), workers=2)
    m2 = ks[0] ** 2 + ks[1] ** 2 + ks[2] ** 2
    nyq = (np.abs(ks[0]) == n // 2) | (np.abs(ks[1]) == n // 2) | (ks[2] == n // 2)
    ok = (m2 > 0) & (m2 < (n // 2) ** 2) & ~nyq
    weight = np.where(ks[2] == 0, 1.0, 2.0) * np.ones_like(m2)   # rfft: kz > 0 stands for +-kz
    k = kf * np.sqrt(m2[ok])
    ratio = np.abs(delta[ok]) ** 2 * box**3 / n**6 / table.P(k)
    w = weight[ok]
    A = float(np.sum(w * ratio) / np.sum(w))
    n_modes = float(np.sum(w))
    edges = np.logspace(np.log10(kf), np.log10(kf * n / 2), 7)
    idx = np.digitize(k, edges) - 1
    bins = [(float(np.sqrt(edges[i] * edges[i + 1])),
             float(np.sum((w * ratio)[idx == i]) / np.sum(w[idx == i])), float(np.sum(w[idx == i])))
            for i in range(6)]
    return {"A": A, "A_err": float(np.sqrt(2.0 / n_modes)), "modes": n_modes, "bins": bins}


@pytest.fixture(scope="module")
def a_s_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("a_s")
    config = cfgmod.load(ROOT / "config" / "config.yaml")       # 128^3 particles in 256 Mpc/h
    config["cosmology"].update(sigma_8=None, A_s=[1.5e-9, 2.6e-9])
    config = cfgmod.validate(config)
    row = power.complete_row(sampling.draw_row(3, config), config["cosmology"])
    sim = tmp / "sims" / row["sim"]
    table = power.run(row, config, tmp / "power.h5")
    attrs = ics_stage.run(row, config, tmp / "power.h5", sim / "music.conf", sim / "transfer_camb.txt",
                          sim / "ics.hdf5")
    psi1, _, _ = pics.read_lpt(sim / "ics.hdf5")
    return {"config": config, "row": row, "table": table, "attrs": attrs, "psi1": psi1, "sim": sim}


def test_a_s_to_sigma8_round_trips_through_the_ics(a_s_run):
    row, table, psi1 = a_s_run["row"], a_s_run["table"], a_s_run["psi1"]
    # the derived sigma_8 is what the .conf (MUSIC normalises to it) and the ICs carry
    p = mc.ics_params(mc.read_conf(a_s_run["sim"] / "music.conf"))
    assert p.cosmology.sigma_8 == row["sigma_8"] and a_s_run["attrs"]["sigma_8"] == row["sigma_8"]
    assert f"A_s = {row['A_s']!r}" in (a_s_run["sim"] / "music.conf").read_text()
    assert table.attrs["amplitude"] == "A_s" and table.attrs["A_s"] == row["A_s"]
    m = ic_amplitude(psi1, float(row["box"]), table)
    s8_table = sigma_R(table.k, table.pk, 8.0)
    s8_ics = np.sqrt(m["A"]) * s8_table
    print(f"\nA_s = {row['A_s']:.6e}: sigma_8 CLASS {row['sigma_8']:.6f}, table top-hat {s8_table:.6f}, "
          f"ICs {s8_ics:.6f} (A = {m['A']:.5f} +- {m['A_err']:.5f}, {m['modes']:.0f} modes)")
    for k, r, n in m["bins"]:
        print(f"  k = {k:.3f} h/Mpc: P_IC / P_table = {r:.4f} ({n:.0f} modes)")
    assert s8_table == pytest.approx(row["sigma_8"], rel=1e-4)
    assert s8_ics == pytest.approx(row["sigma_8"], rel=SIGMA8_RTOL)
    for k, r, n in m["bins"]:          # every k range the box resolves has the table's P(k)
        assert r == pytest.approx(1.0, abs=5 * np.sqrt(2.0 / n) + 2e-3), k  # 5 sigma of cosmic variance


def test_the_measurement_sees_a_one_percent_amplitude_error(a_s_run):
    """Control: ICs from a table 2 % high in P (1 % in sigma_8) fail the same check."""
    row, table = a_s_run["row"], a_s_run["table"]
    high = PowerTable(k=table.k, pk=table.pk * 1.02, a=table.a, D1=table.D1, f=table.f,
                      attrs=dict(table.attrs))
    conf = mc.read_conf(a_s_run["sim"] / "music.conf")
    out = a_s_run["sim"].parent / "high.hdf5"
    pics.write_builtin(conf, out, table=high, workers=2)
    psi1, _, _ = pics.read_lpt(out)
    m = ic_amplitude(psi1, float(row["box"]), table)
    s8_ics = np.sqrt(m["A"]) * sigma_R(table.k, table.pk, 8.0)
    assert s8_ics / row["sigma_8"] - 1 == pytest.approx(0.01, abs=0.003)
    assert abs(s8_ics / row["sigma_8"] - 1) > SIGMA8_RTOL


def test_ics_refuse_a_table_of_another_amplitude(a_s_run, tmp_path):
    """A power table whose sigma_8 is not the .conf's would be silently renormalised by the
    generator: the ics stage refuses it instead."""
    row, config = a_s_run["row"], a_s_run["config"]
    other = power.complete_row(sampling.draw_row(4, config), config["cosmology"])
    power.run(other | {"sim": row["sim"]}, config, tmp_path / "other.h5")
    with pytest.raises(ValueError, match="other.h5: the power table does not describe"):
        ics_stage.run(row, config, tmp_path / "other.h5", tmp_path / "music.conf",
                      tmp_path / "transfer_camb.txt", tmp_path / "ics.hdf5")


def test_manifest_check_uses_the_varied_parameters():
    """reader.check_manifest_against_config compares the config's varied parameters with the
    manifest's label names: an A_s dataset read with a sigma_8 config (or the reverse) fails."""
    from cosmoflow.data.reader import ManifestError, check_manifest_against_config

    base = cfgmod.load(ROOT / "config" / "config.yaml")
    alt = cfgmod.validate(cfgmod.deep_update(base, {"cosmology": {
        "sigma_8": None, "A_s": [1.5e-9, 2.6e-9], "n_s": 0.965, "H0": None, "h": [0.6, 0.8]}}))
    manifest = {"path": "m.json", "compression": base["tfrecords"]["compression"],
                "sample_shape": [32, 32, 32, 1], "label_names": ["Omega_m", "A_s", "h"],
                "dtypes": {"uint8": 1}}
    check_manifest_against_config(manifest, {"cosmology": alt["cosmology"]})
    with pytest.raises(ManifestError, match=r"varied parameters = label names\) = \['Omega_m', "
                                            r"'sigma_8', 'n_s'\] but m.json label_names = \['Omega_m', 'A_s', 'h'\]"):
        check_manifest_against_config(manifest, {"cosmology": base["cosmology"]})
