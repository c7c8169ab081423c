"""MUSIC .conf writer/parser and the CAMB-format transfer table (pure, fast)."""
from __future__ import annotations

import numpy as np
import pytest

from pycola_wrapper import music_conf as mc
from pycola_wrapper.cosmology import Cosmology
from pycola_wrapper.power import eisenstein_hu_pk

COSMO = Cosmology(Omega_m=0.3, sigma_8=0.8, n_s=0.96, H0=70.3)


def test_written_conf_round_trips():
    text = mc.make_conf(box=512.0, n=512, z_start=0.0, seed=34567, cosmo=COSMO, transfer="eisenstein")
    p = mc.ics_params(mc.parse_conf(text, "x.conf"))
    assert (p.box, p.level, p.n, p.seed, p.z_start) == (512.0, 9, 512, 34567, 0.0)
    assert p.Omega_L == pytest.approx(1 - 0.3, abs=1e-15)
    assert p.cosmology == COSMO
    assert p.transfer == "eisenstein" and p.transfer_file is None
    assert p.use_2LPT is False and p.output_format == "generic" and p.filename == "ics.hdf5"
    assert "seed[9]" in text and "levelmin        = 9" in text and "levelmax        = 9" in text


def test_camb_file_conf_resolves_relative_to_the_conf(tmp_path):
    text = mc.make_conf(box=64.0, n=32, z_start=49.0, seed=1, cosmo=COSMO, transfer="camb_file",
                        transfer_file="tk.txt", use_2LPT=True)
    path = tmp_path / "a.conf"
    path.write_text(text)
    p = mc.ics_params(mc.read_conf(path))
    assert p.transfer == "camb_file" and p.transfer_file == str(tmp_path.resolve() / "tk.txt")
    assert p.use_2LPT is True and p.z_start == 49.0


def test_music_comment_styles_and_booleans():
    text = """% header comment
[setup]  # trailing
boxlength = 100   ; trailing semicolon comment
zstart = 10 % percent comment
levelmin = 5
levelmax = 5
use_2LPT = yes
baryons = no
[cosmology]
Omega_m = 0.25
Omega_L = 0.75
Omega_b = 0.04
H0 = 70
sigma_8 = 0.8
nspec = 0.95
transfer = eisenstein
[random]
seed[5] = 77
[output]
format = generic
filename = out.hdf5
"""
    conf = mc.parse_conf(text, "c.conf")
    assert conf.get("setup", "boxlength", float) == 100.0
    assert conf.get("setup", "zstart", float) == 10.0
    assert conf.get("setup", "use_2LPT", bool) is True and conf.get("setup", "baryons", bool) is False
    p = mc.ics_params(conf)
    assert p.seed == 77 and p.cosmology.T_cmb == mc.MUSIC_TCMB  # MUSIC's default when absent


@pytest.mark.parametrize("text, words", [
    ("[setup]\nuse_2LPT = maybe\n", ["c.conf", "[setup] use_2LPT", "yes or no"]),
    ("[setup]\nboxlength = big\n", ["c.conf", "[setup] boxlength", "float"]),
    ("[setup\nboxlength = 1\n", ["c.conf", "line 1", "section"]),
    ("boxlength = 1\n", ["c.conf", "line 1", "before any [section]"]),
    ("[setup]\njust words\n", ["c.conf", "line 2", "key = value"]),
])
def test_malformed_values_name_file_section_key(text, words):
    conf_or_err = None
    with pytest.raises(mc.ConfError) as err:
        conf_or_err = mc.parse_conf(text, "c.conf")
        kind = bool if "2LPT" in text else float
        key = "use_2LPT" if "2LPT" in text else "boxlength"
        conf_or_err.get("setup", key, kind)
    for word in words:
        assert word in str(err.value)


def test_missing_key_and_non_unigrid_are_clear():
    text = mc.make_conf(box=64.0, n=32, z_start=0.0, seed=1, cosmo=COSMO, transfer="eisenstein")
    no_sigma = "\n".join(ln for ln in text.splitlines() if not ln.startswith("sigma_8"))
    with pytest.raises(mc.ConfError, match=r"u\.conf: \[cosmology\] sigma_8: missing"):
        mc.ics_params(mc.parse_conf(no_sigma, "u.conf"))
    zoom = text.replace("levelmax        = 5", "levelmax        = 7")
    with pytest.raises(mc.ConfError, match="unigrid"):
        mc.ics_params(mc.parse_conf(zoom, "u.conf"))
    bad_seed = text.replace("seed[5]", "seed[6]")
    with pytest.raises(mc.ConfError, match=r"\[random\] seed\[5\]: missing"):
        mc.ics_params(mc.parse_conf(bad_seed, "u.conf"))


def test_builtin_refuses_non_flat_conf_from_the_original_runs():
    text = mc.make_conf(box=64.0, n=32, z_start=0.0, seed=1, cosmo=COSMO, transfer="eisenstein")
    old = mc.parse_conf(text, "orig.conf").with_value("cosmology", "Omega_L", "0.724")
    p = mc.ics_params(old)
    assert p.Omega_L == 0.724 and "Omega_L         = 0.724" in old.text
    with pytest.raises(mc.ConfError, match="orig.conf.*flat"):
        mc.check_builtin_supported(p, old.source)


def test_with_value_edits_in_place_and_adds():
    conf = mc.parse_conf("[setup]\nzstart = 0 # c\n", "c.conf")
    conf2 = conf.with_value("setup", "zstart", "49").with_value("output", "format", "generic")
    assert conf2.get("setup", "zstart", float) == 49.0
    assert conf2.get("output", "format") == "generic"
    assert conf2.text.count("zstart") == 1


def test_camb_transfer_table_round_trip(tmp_path):
    k = np.logspace(-4, 1, 300)
    pk = eisenstein_hu_pk(k, COSMO)
    path = tmp_path / "tk.txt"
    path.write_text(mc.camb_transfer_text(k, pk, COSMO.n_s))
    rows = [ln.split() for ln in path.read_text().splitlines() if not ln.startswith("#")]
    assert all(len(r) == 13 for r in rows)  # MUSIC's transfer_camb.cc reads 13 columns
    k2, T = mc.read_camb_transfer(path)
    shape = k2**COSMO.n_s * T**2
    np.testing.assert_allclose(shape / shape[100], pk / pk[100], rtol=1e-9)
    path.write_text("1 2 3\n")
    with pytest.raises(mc.ConfError, match="tk.txt"):
        mc.read_camb_transfer(path)
