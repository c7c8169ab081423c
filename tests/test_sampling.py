"""Cosmology sampling: ranges, determinism, prefix stability, splits, the H0 variant, the
parameterisation (fixed/varied, sigma_8 or A_s, H0 or h) and bit-identity with the old sampler."""
import copy
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from cosmoflow import config as cfgmod
from cosmoflow import sampling
from conftest import ROOT


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


def test_calibration_split_follows_test_and_changes_nothing_else(cfg):
    """sims.n_cal: the n_cal simulations after validation and test are 'cal'; every simulation
    keeps its cosmology and seed, and the other splits keep theirs."""
    with_cal = copy.deepcopy(cfg)
    with_cal["sims"]["n_cal"] = 25
    a, b = sampling.sample(cfg), sampling.sample(with_cal)
    assert [r["split"] for r in b[50:75]] == ["cal"] * 25
    assert [r["split"] for r in b[:50]] == [r["split"] for r in a[:50]]
    assert {r["split"] for r in b[75:]} == {"train"}
    drop = lambda rows: [{k: v for k, v in r.items() if k != "split"} for r in rows]  # noqa: E731
    assert drop(a) == drop(b)
    assert sampling.split_of(49, 30, 20) == "test" and sampling.split_of(50, 30, 20) == "train"


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
    rows = [sampling.with_derived(r, {"A_s": 2e-9 + 1e-12 * i})  # as rule cosmology writes them
            for i, r in enumerate(sampling.sample(cfg)[:10])]
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


# --------------------------------------------------------------------------------------------
# parameterisation: fixed or varied parameters, sigma_8 or A_s, H0 or h
REFERENCE = Path(__file__).parent / "data" / "sampling_reference.json"


def _enc(v):
    return float(v).hex() if isinstance(v, float) else v


def test_existing_configs_draw_the_same_rows():
    """Every shipped config (and vary_H0) draws, bit for bit, the rows the sampler drew before
    the parameterisation (tests/data/sampling_reference.json, written by the old code)."""
    ref = json.loads(REFERENCE.read_text())
    cols = ref["columns"]
    assert len(ref["cases"]) == 6
    for name, case in ref["cases"].items():
        cfg = cfgmod.load(*(ROOT / f for f in case["files"]))
        if case["vary_H0"]:
            cfg["cosmology"]["vary_H0"] = True
        cfg["sims"].update(case.get("sims", {}))   # the split sizes the reference was drawn with
        rows = sampling.sample(cfg)
        assert len(rows) == case["n_sims"], name
        assert [{k: _enc(r[k]) for k in cols} for r in rows[:2]] == case["first_rows"], name
        digest = hashlib.sha256(json.dumps([[_enc(r[k]) for k in cols] for r in rows]).encode()).hexdigest()
        assert digest == case["digest"], name
        assert all(r["A_s"] is None for r in rows)  # derived later, by CLASS (rule cosmology)


def test_labels_in_slot_order(cfg):
    from cosmoflow.data.tfrecord import label_names_for, label_norm_for

    cos = cfg["cosmology"]
    assert label_names_for(cos) == ["Omega_m", "sigma_8", "n_s"]
    assert label_names_for(cos | {"vary_H0": True}) == ["Omega_m", "sigma_8", "n_s", "H0"]
    # YAML key order does not matter (configs merged, or stored as JSON with sorted keys)
    shuffled = dict(sorted(cos.items(), key=lambda kv: kv[0].lower(), reverse=True))
    assert label_names_for(shuffled) == ["Omega_m", "sigma_8", "n_s"]
    alt = cos | {"sigma_8": None, "A_s": [1.5e-9, 2.6e-9], "n_s": 0.965, "H0": None,
                 "h": [0.6, 0.8], "Omega_b": [0.04, 0.05]}
    assert label_names_for(alt) == ["Omega_m", "A_s", "h", "Omega_b"]
    norm = label_norm_for(alt, "range")
    assert norm["names"] == ["Omega_m", "A_s", "h", "Omega_b"]
    assert norm["offset"][1] == pytest.approx(2.05e-9) and norm["scale"][2] == pytest.approx(0.1)
    assert label_names_for(cos | {"Omega_m": 0.3, "n_s": [0.9, 1.0]}) == ["sigma_8", "n_s"]


def test_a_s_and_h_configs_draw_in_the_same_stream(cfg):
    """Slot i is draw i whatever is varied: the A_s config's Omega_m, n_s equal the sigma_8
    config's; A_s takes sigma_8's draw; fixed values are exact; h varied scales the box."""
    base = sampling.sample(cfg)
    alt = copy.deepcopy(cfg)
    alt["cosmology"].update(sigma_8=None, A_s=[1.5e-9, 2.6e-9], H0=None, h=[0.6, 0.8],
                            Omega_b=[0.04, 0.05])
    rows = sampling.sample(cfgmod.validate(alt))
    for b, r in zip(base, rows):
        assert r["Omega_m"] == b["Omega_m"] and r["n_s"] == b["n_s"]
        u = (b["sigma_8"] - 0.78) / (0.95 - 0.78)             # the same uniform double
        assert r["A_s"] == pytest.approx(1.5e-9 + u * 1.1e-9, rel=1e-12)
        assert r["sigma_8"] is None and 1.5e-9 <= r["A_s"] < 2.6e-9
        assert 0.6 <= r["h"] < 0.8 and r["H0"] == 100 * r["h"]
        assert r["box"] == pytest.approx(cfg["simulation"]["box"] * r["h"] / 0.7)
        assert 0.04 <= r["Omega_b"] < 0.05
    fixed = copy.deepcopy(cfg)
    fixed["cosmology"].update(Omega_m=0.3, n_s=[0.9, 1.0])
    for b, r in zip(base, sampling.sample(fixed)):
        assert r["Omega_m"] == 0.3 and r["Omega_L"] == 0.7
        assert r["sigma_8"] == b["sigma_8"] and r["n_s"] == b["n_s"]  # fixing one keeps the others


def test_with_derived_and_incomplete_rows(cfg, tmp_path):
    row = sampling.draw_row(0, cfg)
    with pytest.raises(ValueError, match=r"sim 00000: no value for \['A_s'\]"):
        sampling.write_table([row], tmp_path / "c.csv")
    full = sampling.with_derived(row, {"A_s": 2.1e-9})
    assert full["A_s"] == 2.1e-9 and row["A_s"] is None
    with pytest.raises(ValueError, match="sigma_8 = .* is drawn; refusing"):
        sampling.with_derived(row, {"sigma_8": 0.5})
    sampling.write_row(row, tmp_path / "old.json")
    with pytest.raises(ValueError, match=r"old.json: sim 00000: no value for \['A_s'\]"):
        sampling.read_row(tmp_path / "old.json")
    sampling.write_row(full, tmp_path / "c.json")
    assert sampling.read_row(tmp_path / "c.json") == full
    sampling.write_table([full], tmp_path / "c.csv")
    assert sampling.read_table(tmp_path / "c.csv") == [full]
