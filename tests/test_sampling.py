"""Cosmology sampling: ranges, determinism, prefix stability, splits, the H0 variant."""
import copy

import numpy as np
import pytest

from cosmoflow import config as cfgmod
from cosmoflow import sampling


@pytest.fixture
def cfg():
    c = cfgmod.load()
    c["sims"] = {"n_sims": 400, "n_val": 30, "n_test": 20}
    return c


def test_ranges_and_flatness(cfg):
    rows = sampling.sample(cfg)
    for key in ("Omega_m", "sigma_8", "n_s"):
        lo, hi = cfg["cosmology"][key]
        vals = np.array([r[key] for r in rows])
        assert vals.min() >= lo and vals.max() < hi
        # uniform draws: 400 samples fill the range (each tenth of it is hit)
        hist, _ = np.histogram(vals, bins=10, range=(lo, hi))
        assert hist.min() > 10
    for r in rows:
        assert r["Omega_L"] == pytest.approx(1 - r["Omega_m"], abs=1e-15)
        assert r["H0"] == cfg["cosmology"]["H0"] and r["box"] == cfg["simulation"]["box"]


def test_deterministic_and_seed_dependent(cfg):
    assert sampling.sample(cfg) == sampling.sample(copy.deepcopy(cfg))
    other = copy.deepcopy(cfg)
    other["seed"] += 1
    a, b = sampling.sample(cfg), sampling.sample(other)
    assert all(x["Omega_m"] != y["Omega_m"] for x, y in zip(a, b))


def test_growing_n_sims_keeps_existing_rows(cfg):
    small = copy.deepcopy(cfg)
    small["sims"]["n_sims"] = 100
    assert sampling.sample(cfg)[:100] == sampling.sample(small)


def test_seeds_distinct_and_splits(cfg):
    rows = sampling.sample(cfg)
    seeds = [r["seed"] for r in rows]
    assert len(set(seeds)) == len(seeds) and all(0 <= s < 2**32 for s in seeds)
    splits = [r["split"] for r in rows]
    assert splits.count("val") == 30 and splits.count("test") == 20 and splits.count("train") == 350
    assert [r["sim"] for r in rows][:3] == ["00000", "00001", "00002"]


def test_vary_H0_scales_the_box(cfg):
    cfg["cosmology"]["vary_H0"] = True
    rows = sampling.sample(cfg)
    lo, hi = cfg["cosmology"]["H0_range"]
    H0 = np.array([r["H0"] for r in rows])
    assert H0.min() >= lo and H0.max() < hi and H0.std() > 1
    for r in rows:
        assert r["box"] == pytest.approx(cfg["simulation"]["box"] * r["H0"] / (0.5 * (lo + hi)))
        assert r["h"] == pytest.approx(r["H0"] / 100)
    # varying H0 does not change the other parameters' stream
    cfg["cosmology"]["vary_H0"] = False
    fixed = sampling.sample(cfg)
    assert [r["sigma_8"] for r in rows] == [r["sigma_8"] for r in fixed]


def test_table_round_trip_and_errors(cfg, tmp_path):
    rows = sampling.sample(cfg)[:10]
    path = tmp_path / "cosmologies.csv"
    sampling.write_table(rows, path)
    assert sampling.read_table(path) == rows
    assert not list(tmp_path.glob(".tmp-*"))
    text = path.read_text().splitlines()
    (tmp_path / "bad.csv").write_text("\n".join([text[0], text[1].replace(",val,", ",holdout,")]))
    with pytest.raises(ValueError, match=r"bad.csv, line 2: split 'holdout'"):
        sampling.read_table(tmp_path / "bad.csv")
    (tmp_path / "cols.csv").write_text("sim,seed\n00000,1\n")
    with pytest.raises(ValueError, match=r"cols.csv: missing column"):
        sampling.read_table(tmp_path / "cols.csv")
    with pytest.raises(FileNotFoundError, match="nothere.csv"):
        sampling.read_table(tmp_path / "nothere.csv")


def test_atomic_outputs_have_normal_permissions(tmp_path):
    import os
    import stat
    from cosmoflow.io import atomic_path
    with atomic_path(tmp_path / "x.txt") as tmp:
        tmp.write_text("ok")
    mode = stat.S_IMODE(os.stat(tmp_path / "x.txt").st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
    try:
        with atomic_path(tmp_path / "y.txt") as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert not (tmp_path / "y.txt").exists() and not list(tmp_path.glob(".tmp-*"))
