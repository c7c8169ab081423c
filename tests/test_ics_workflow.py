"""The ics stage end to end: a real snakemake run (sample -> power -> ics) and user .conf files."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from cosmoflow import config as cfgmod
from cosmoflow import ics as stage
from cosmoflow import sampling
from cosmoflow.power import cosmology_from_row, k_max_for, make_table
from pycola_wrapper import ics
from pycola_wrapper import music_conf as mc

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "config" / "tiny.yaml"
BIN = Path(sys.executable).parent


def test_snakemake_sample_power_ics(tmp_path):
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    cmd = [str(BIN / "snakemake"), "ics", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
           "--cores", "2", "--configfile", str(TINY)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-6000:]
    config = cfgmod.load(ROOT / "config" / "config.yaml", TINY)
    rows = sampling.read_table(tmp_path / "results" / "cosmologies.csv")
    assert len(rows) == config["sims"]["n_sims"]
    for row in rows:
        sim_dir = tmp_path / "results" / "sims" / row["sim"]
        conf = mc.read_conf(sim_dir / "music.conf")
        p = mc.ics_params(conf)
        assert p.seed == int(row["seed"]) and p.box == float(row["box"]) and p.n == int(row["n_particles"])
        assert p.cosmology == cosmology_from_row(row, config["cosmology"])
        assert p.transfer == "camb_file" and Path(p.transfer_file) == sim_dir.resolve() / "transfer_camb.txt"
        psi1, psi2, attrs = ics.read_lpt(sim_dir / "ics.hdf5")
        assert psi1.shape == (3, 32, 32, 32) and psi1.std() > 0 and psi2.std() > 0
        assert attrs["generator"] == "builtin" and attrs["transfer"] == "class" and attrs["seed"] == p.seed
        assert attrs["conf"] == conf.text
        assert "builtin ICs" in (tmp_path / "results" / "logs" / "ics" / f"{row['sim']}.log").read_text()
        assert (tmp_path / "results" / "benchmarks" / "ics" / f"{row['sim']}.tsv").is_file()
    assert not list((tmp_path / "results").rglob(".tmp-*"))


def test_user_conf_is_honoured(tmp_path):
    config = cfgmod.load(ROOT / "config" / "config.yaml", TINY)
    config["power"]["transfer"] = "eisenstein"
    row = sampling.sample(config)[0]
    cosmo = cosmology_from_row(row, config["cosmology"])
    table = make_table(cosmo, "eisenstein", 1e-4, k_max_for(float(row["box"]), int(row["n_particles"])),
                       128, 0.01, 32)
    table.save(tmp_path / "power.h5")
    user_dir = tmp_path / "user"
    user_dir.mkdir()
    (user_dir / "tk.txt").write_text(mc.camb_transfer_text(table.k, table.pk, cosmo.n_s))
    text = mc.make_conf(box=float(row["box"]), n=int(row["n_particles"]), z_start=20.0, seed=99, cosmo=cosmo,
                        transfer="camb_file", transfer_file="tk.txt", use_2LPT=True)
    (user_dir / f"{row['sim']}.conf").write_text("; my own run\n" + text)
    config["ics"]["conf_dir"] = str(user_dir)
    out = tmp_path / "sims" / row["sim"]
    attrs = stage.run(row, config, tmp_path / "power.h5", out / "music.conf", out / "transfer_camb.txt",
                      out / "ics.hdf5")
    written = (out / "music.conf").read_text()
    assert written.startswith(f"# from {(user_dir / (row['sim'] + '.conf')).resolve()}")
    assert "; my own run" in written and f"transfer_file   = {user_dir.resolve() / 'tk.txt'}" in written
    assert attrs["seed"] == 99 and attrs["z_start"] == 20.0 and attrs["use_2LPT"]
    assert attrs["transfer"] == "camb_file"  # the user's table (normalised to its sigma_8), not ours
    assert attrs["power_source"] == str(user_dir.resolve() / "tk.txt")
    with h5py.File(out / "ics.hdf5", "r") as h5:
        assert h5.attrs["conf"] == written
    config["ics"]["conf_dir"] = str(tmp_path / "empty")  # no <sim>.conf there: generated as usual
    attrs = stage.run(row, config, tmp_path / "power.h5", out / "music.conf", out / "transfer_camb.txt",
                      out / "ics.hdf5")
    assert attrs["seed"] == int(row["seed"]) and attrs["transfer"] == "eisenstein"


def test_user_conf_errors_name_the_file(tmp_path):
    config = cfgmod.load(ROOT / "config" / "config.yaml", TINY)
    row = sampling.sample(config)[0]
    user_dir = tmp_path / "user"
    user_dir.mkdir()
    (user_dir / f"{row['sim']}.conf").write_text("[setup]\nlevelmin = 5\nlevelmax = 5\n")
    config["ics"]["conf_dir"] = str(user_dir)
    with pytest.raises(mc.ConfError, match=rf"{row['sim']}\.conf: \[setup\] boxlength: missing"):
        stage.run(row, config, tmp_path / "power.h5", tmp_path / "music.conf", tmp_path / "transfer_camb.txt",
                  tmp_path / "ics.hdf5")
