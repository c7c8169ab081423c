"""``predict`` (cosmoflow.predict): a trained run on inputs of one's own.

Tiny real data (tests/datagen.py: Zel'dovich snapshots -> voxel files -> TFRecords, 3
simulations of 32^3 particles in 64 Mpc/h, 2 Mpc/h voxels, 16^3 samples) and a real (untrained)
Keras network laid out as the train stage lays out a run; real TensorFlow throughout.
"""
from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

from datagen import make_splits, make_trained_run, small_config

from cosmoflow.data.voxels import read_voxels, write_voxels
from cosmoflow.evaluate import stage as evaluate_stage
from cosmoflow.predict import Options, cli, core, stage, table, trained


@dataclass
class Case:
    tmp: Path
    cfg: dict
    run_dir: Path           # results/train/runs/<id>-1

    @property
    def train(self) -> Path:  # the published outputs (results/train)
        return self.tmp / "train"

    def manifest(self, split: str) -> Path:
        return self.tmp / "tfrecords" / split / "manifest.json"

    @property
    def test_sim(self) -> str:
        return sorted(p.name for p in (self.tmp / "voxels").iterdir())[-1]  # datagen: the last

    def voxel_dir(self) -> Path:
        return self.tmp / "voxels" / self.test_sim

    def grid(self) -> np.ndarray:
        """The test simulation's counts (V, V, V, C), channels at cola.redshifts."""
        return np.stack([read_voxels(self.voxel_dir() / f"z{z:.2f}.h5")[0]
                         for z in self.cfg["cola"]["redshifts"]], axis=-1)


def _case(tmp: Path, *, channels: bool, input_norm: str, outputs_per_label: int = 1,
          n_particles: int = 32, n_sims: int = 3) -> Case:
    cfg = small_config(redshift_channels=channels)
    cfg["simulation"]["n_particles"] = n_particles
    cfg["cola"]["redshifts"] = [0.0, 1.0]
    cfg["sims"].update(n_sims=n_sims, n_val=1, n_test=1)
    cfg["model"].update(conv_filters=[8, 16, 16], dense=[32])
    cfg["data"]["input_norm"] = input_norm
    make_splits(tmp, cfg)
    run_dir = make_trained_run(tmp / "train", tmp / "tfrecords/train/manifest.json",
                               tmp / "tfrecords/val/manifest.json", cfg,
                               outputs_per_label=outputs_per_label)
    return Case(tmp, cfg, run_dir)


@pytest.fixture(scope="module")
def stacked(tmp_path_factory) -> Case:
    """Samples of 2 channels (z = 0, 1), log1p inputs; 2 training simulations (evaluate's
    cross-validation holds one out)."""
    return _case(tmp_path_factory.mktemp("stacked"), channels=True, input_norm="log1p", n_sims=4)


@pytest.fixture(scope="module")
def evaluated(stacked) -> Path:
    """The evaluate stage run on ``stacked``'s network and splits: its output folder
    (metrics.json, predictions.csv, predictions_simulation.csv, combinations.json)."""
    cfg = {**stacked.cfg, "evaluate": {**stacked.cfg["evaluate"], "n_bootstrap": 50,
                                       "summary": {**stacked.cfg["evaluate"]["summary"], "max_iter": [5]}}}
    out = stacked.tmp / "evaluate"
    evaluate_stage.run(model=str(stacked.train / "model.keras"), test_manifest=str(stacked.manifest("test")),
                       train_manifest=str(stacked.manifest("train")),
                       history=str(stacked.train / "history.csv"), voxel_files=[], power_tables=[],
                       config=cfg, out_dir=str(out))
    return out


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Case:
    """One channel per sample (z = 0 or 1), x / mean inputs; 48^3 particles: a mean count of
    3.375 per voxel (x / 3.375 is not x * (1 / 3.375) in float32)."""
    return _case(tmp_path_factory.mktemp("single"), channels=False, input_norm="mean",
                 n_particles=48)


def _by_sample(results) -> dict:
    """(sub-volume, redshifts) -> estimates (P,) of predict's results."""
    return {(k, tuple(round(z, 4) for z in r.redshifts)): m
            for r in results for k, m in enumerate(r.estimates.mean)}


# --------------------------------------------------------------------------------------------
# (a) the same numbers as evaluate
@pytest.mark.parametrize("name, run_of", [("stacked", lambda c: c.train),
                                          ("single", lambda c: c.run_dir)])
def test_predict_reproduces_evaluate_bit_for_bit(name, run_of, request, tmp_path):
    """The test simulation's voxel files through predict give evaluate's predictions on the
    test TFRecords exactly (other batches, other sample order), for both input norms, stacked
    and single-channel samples, and a run given as results/train or as its run folder."""
    case = request.getfixturevalue(name)
    pred, _, ids = evaluate_stage.predict(case.train / "model.keras", case.manifest("test"),
                                          case.cfg["data"]["input_norm"])
    assert np.ptp(pred, axis=0).min() > 0   # distinct estimates: the comparison can fail
    results = stage.run(run_of(case), [case.voxel_dir()], tmp_path / "p.csv")
    mine = _by_sample(results)
    assert len(mine) == len(ids) == 8 * (1 if name == "stacked" else 2)
    got = np.array([mine[(d["subvolume"], tuple(round(z, 4) for z in d["z"]))] for d in ids])
    assert got.dtype == pred.dtype == np.float64
    assert np.array_equal(got, pred)


def test_estimates_do_not_depend_on_the_batch_size(stacked, tmp_path):
    """Batch 1 and batch 8 give every sample its own estimate, to the float32 rounding of the
    network's output: TensorFlow's CPU kernels may block a batch of 8 differently (on an AMD EPYC
    the two differed by 9e-9 relative, bit-equal elsewhere); samples mixed or misordered within
    a batch would differ by the spread of the estimates (> 1e-3 here)."""
    a = _by_sample(stage.run(stacked.train, [stacked.voxel_dir()], tmp_path / "a.csv", batch_size=1))
    b = _by_sample(stage.run(stacked.train, [stacked.voxel_dir()], tmp_path / "b.csv", batch_size=8))
    assert a.keys() == b.keys()
    spread = np.ptp(np.array(list(b.values())), axis=0)
    assert spread.min() > 1e-3 * np.abs(np.array(list(b.values()))).max()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=0)


# --------------------------------------------------------------------------------------------
# evaluate's combinations (network + statistics per sample, network + whole box per input)
def _csv(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_predict_applies_evaluates_combinations(stacked, evaluated, tmp_path, caplog):
    """With evaluate's combinations.json, the test simulation's voxel folder through predict
    gives evaluate's network_stats estimate of every sample (predictions.csv) and its
    network_box estimate of the simulation (predictions_simulation.csv); a cube smaller than a
    box gets network_stats and no network_box (logged)."""
    names = ["Omega_m", "sigma_8", "n_s"]
    combos = evaluated / "combinations.json"
    grid = stacked.grid()
    cube = _npy(stacked, tmp_path, grid[:16, :16, :16], "cube.npy")   # sample 0 alone
    out = tmp_path / "p.csv"
    with caplog.at_level("WARNING", logger="cosmoflow.predict"):
        assert cli.main(["--run", str(stacked.train), "--out", str(out), "--voxel-size", "2",
                         "--redshifts", "0,1", "--combinations", str(combos),
                         str(stacked.voxel_dir()), str(cube)]) == 0
    rows = _csv(out)
    assert list(rows[0]) == table.header(names, combined=True)
    assert list(rows[0])[-6:] == [f"{c}_{n}" for c in ("network_stats", "network_box") for n in names]
    ev = {int(r["subvolume"]): r for r in _csv(evaluated / "predictions.csv")}
    mine = [r for r in rows if r["input"] == str(stacked.voxel_dir())]
    assert len(mine) == 9 and len(ev) == 8
    got = np.array([[float(r[f"network_stats_{n}"]) for n in names] for r in mine[:8]])
    want = np.array([[float(ev[int(r["sample"])][f"network_stats_{n}"]) for n in names] for r in mine[:8]])
    net = np.array([[float(r[n]) for n in names] for r in mine[:8]])
    assert np.abs(want - net).max() > 1e-4          # the combination is not the network itself
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert all(r[f"network_box_{n}"] == "" for r in mine[:8] for n in names)
    [sim_row] = _csv(evaluated / "predictions_simulation.csv")
    assert sim_row["sim"].zfill(5) == stacked.test_sim
    np.testing.assert_allclose([float(mine[8][f"network_box_{n}"]) for n in names],
                               [float(sim_row[f"network_box_{n}"]) for n in names], rtol=1e-12, atol=0)
    assert all(mine[8][f"network_stats_{n}"] == "" for n in names)
    # a 32 Mpc/h cube: sample 0's network_stats (to the float32 rounding of the network's
    # output: a batch of one sample, see test_estimates_do_not_depend_on_the_batch_size; another
    # sample's estimate differs by more than 1e-3), no whole-box estimate
    small = [r for r in rows if r["input"] == str(cube)]
    assert len(small) == 2 and np.ptp(got, axis=0).min() > 1e-3 * np.abs(got).max()
    np.testing.assert_allclose([float(small[0][f"network_stats_{n}"]) for n in names], got[0],
                               rtol=1e-6, atol=0)
    assert all(small[1][f"network_box_{n}"] == "" for n in names)
    assert f"{cube}: no network_box estimate: a box of 16 voxels (32 Mpc/h), network_box was " \
           "fitted on whole boxes of 32 voxels (64 Mpc/h)" in caplog.text


def test_combinations_of_another_network_or_malformed_are_refused(stacked, evaluated, tmp_path, capsys):
    """combinations.json fitted to another network's estimates, with other labels, or missing a
    key: predict stops (exit 1) naming the file and what does not fit; no table written."""
    doc = json.loads((evaluated / "combinations.json").read_text())
    cases = {
        "sha": ({**doc, "model_sha256": "0" * 64}, "fitted to the estimates of another network than"),
        "labels": ({**doc, "label_names": ["Omega_m", "sigma_8", "h"]},
                   "labels ['Omega_m', 'sigma_8', 'h'], the network's are ['Omega_m', 'sigma_8', 'n_s']"),
        "key": ({k: v for k, v in doc.items() if k != "network_box"}, "missing key(s) ['network_box']"),
        "ridge": ({**doc, "network_stats": {**doc["network_stats"], "coef": [[0.0]]}},
                  "network_stats: inconsistent shapes"),
    }
    for name, (bad, message) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(bad))
        out = tmp_path / f"{name}.csv"
        assert cli.main(["--run", str(stacked.train), "--out", str(out), "--combinations", str(path),
                         str(stacked.voxel_dir())]) == 1, name
        err = capsys.readouterr().err
        assert f"ERROR: {path}: " in err and message in err, (name, err)
        assert not out.exists()


# --------------------------------------------------------------------------------------------
# (b) geometry mismatches: an error naming the input and the expected value
def _npy(case, tmp, grid, name="grid.npy"):
    path = tmp / name
    np.save(path, grid)
    return path


def _voxel_folder(case, tmp, *, box=None, z_of=None):
    """A copy of the test simulation's voxel folder, attributes changed."""
    out = tmp / "vox"
    out.mkdir()
    for f in sorted(case.voxel_dir().iterdir()):
        counts, attrs = read_voxels(f)
        if box is not None:
            attrs["box"] = box
        if z_of is not None:
            attrs["z"] = z_of.get(attrs["z"], attrs["z"])
        write_voxels(out / f.name, counts, attrs)
    return out


def _snapshot(case, tmp):
    return case.tmp / "sims" / case.test_sim / "snapshot_z0.00.hdf5"


MISMATCHES = {
    # name: (input maker (case, tmp) -> (path, Options), what the message must say)
    "voxel size, .npy": (lambda c, t: (_npy(c, t, c.grid()), Options(voxel_size=4.0, redshifts=(0, 1))),
                         "the network expects 2 Mpc/h voxels"),
    "voxel size, voxel files": (lambda c, t: (_voxel_folder(c, t, box=128.0), Options()),
                                "the network expects 2 Mpc/h voxels"),
    "voxel size, snapshot box": (lambda c, t: (c.tmp / "sims" / c.test_sim, Options(box=63.0)),
                                 "not a whole number of the network's 2 Mpc/h voxels"),
    "sample size": (lambda c, t: (_npy(c, t, c.grid()[:24, :24, :24]), Options(voxel_size=2.0, redshifts=(0, 1))),
                    "sample size 16 voxels expected"),
    "channels, .npy": (lambda c, t: (_npy(c, t, c.grid()[..., :1]), Options(voxel_size=2.0, redshifts=(0,))),
                       "the network expects 2 (z = 0, 1)"),
    "channels, one voxel file": (lambda c, t: (c.voxel_dir() / "z0.00.h5", Options()),
                                 "the network expects 2 (z = 0, 1)"),
    "channels, one snapshot": (lambda c, t: (_snapshot(c, t), Options()), "the network expects 2 (z = 0, 1)"),
    "redshifts, .npy": (lambda c, t: (_npy(c, t, c.grid()), Options(voxel_size=2.0, redshifts=(0, 0.5))),
                        "the network expects channels at z = 0, 1"),
    "redshifts, voxel folder": (lambda c, t: (_voxel_folder(c, t, z_of={1.0: 0.5}), Options()),
                                "the network's channel redshifts z = 0, 1"),
    "density": (lambda c, t: (_npy(c, t, 3 * c.grid()), Options(voxel_size=2.0, redshifts=(0, 1))),
                "the network expects a mean count of 1 per voxel"),
}


@pytest.mark.parametrize("kind", MISMATCHES)
def test_a_geometry_mismatch_names_the_input_and_the_expected_value(kind, stacked, tmp_path):
    make, expected = MISMATCHES[kind]
    path, options = make(stacked, tmp_path)
    run = trained.load(stacked.train)
    with pytest.raises(ValueError) as err:
        stage.predict_input(trained.load_model(run), run, path, options)
    msg = str(err.value)
    assert str(path) in msg and expected in msg, msg


def test_one_channel_network_names_its_training_redshifts(single, tmp_path):
    src = single.voxel_dir() / "z1.00.h5"
    counts, attrs = read_voxels(src)
    write_voxels(tmp_path / "z0.50.h5", counts, {**attrs, "z": 0.5})
    run = trained.load(single.train)
    model = trained.load_model(run)
    with pytest.raises(ValueError, match=r"z0\.50\.h5: redshift\(s\) 0\.5, the network expects one "
                                         r"channel at one of z = 0 \| 1"):
        stage.predict_input(model, run, tmp_path / "z0.50.h5")
    assert [r.redshifts for r in stage.predict_input(model, run, src)] == [(1.0,)]


def test_a_manifest_of_another_split_is_refused(stacked):
    with pytest.raises(ValueError, match=r"test/manifest\.json: not the training manifest of run"):
        trained.load(stacked.train, manifest=stacked.manifest("test"))


# --------------------------------------------------------------------------------------------
# (c) the other input kinds give the voxel files' estimates when they hold the same field
def test_npy_and_snapshot_inputs_match_the_voxel_files(stacked, tmp_path):
    grid = stacked.grid()
    np.save(tmp_path / "grid.npy", grid)
    np.save(tmp_path / "grid_f64.npy", grid.astype(np.float64))
    own = tmp_path / "own_snapshots"   # another positions dataset, no box attribute
    own.mkdir()
    for src in sorted((stacked.tmp / "sims" / stacked.test_sim).glob("snapshot_*.hdf5")):
        with h5py.File(src) as a, h5py.File(own / src.name, "w") as b:
            b["particles/pos"] = a["positions"][...]
            b.attrs["z"] = a.attrs["z"]
    run = trained.load(stacked.run_dir)
    model = trained.load_model(run)
    ref = stage.predict_input(model, run, stacked.voxel_dir())
    assert len(ref) == 1 and ref[0].redshifts == (0.0, 1.0)
    others = {
        "npy": (tmp_path / "grid.npy", Options(voxel_size=2.0, redshifts=(0.0, 1.0))),
        "npy float64": (tmp_path / "grid_f64.npy", Options(voxel_size=2.0, redshifts=(0.0, 1.0))),
        "snapshots (box attribute)": (stacked.tmp / "sims" / stacked.test_sim, Options()),
        "snapshots (box given, other dataset)": (own, Options(box=64.0, positions="particles/pos")),
    }
    for name, (path, options) in others.items():
        got = stage.predict_input(model, run, path, options)
        assert len(got) == 1 and got[0].source == str(path), name
        assert np.array_equal(got[0].estimates.mean, ref[0].estimates.mean), name


# --------------------------------------------------------------------------------------------
# (d) the command line and its table
def test_cli_writes_the_documented_columns(stacked, tmp_path, capsys):
    out = tmp_path / "predictions.csv"
    np.save(tmp_path / "grid.npy", stacked.grid())
    inputs = [str(stacked.voxel_dir()), str(tmp_path / "grid.npy")]
    assert cli.main(["--run", str(stacked.train), "--out", str(out), "--voxel-size", "2",
                     "--redshifts", "0,1", *inputs]) == 0
    with open(out, newline="") as fh:
        rows = list(csv.reader(fh))
    names = ["Omega_m", "sigma_8", "n_s"]
    assert rows[0] == ["input", "row", "z", "sample", "n_samples", *names, *(f"{n}_sd" for n in names)]
    assert rows[0] == table.header(names)
    docs = (Path(__file__).resolve().parents[1] / "docs" / "predict.md").read_text()
    assert "input,row,z,sample,n_samples,Omega_m,sigma_8,n_s,Omega_m_sd,sigma_8_sd,n_s_sd" in docs
    body = rows[1:]
    assert len(body) == 2 * (8 + 1)
    ref = stage.predict_input(trained.load_model(trained.load(stacked.train)),
                              trained.load(stacked.train), stacked.voxel_dir())[0].estimates.mean
    for i, src in enumerate(inputs):
        mine = body[9 * i: 9 * (i + 1)]
        assert [r[0] for r in mine] == [src] * 9
        assert [r[1] for r in mine] == ["sample"] * 8 + ["input"]
        assert {r[2] for r in mine} == {"0 1"}
        assert [r[3] for r in mine] == [str(k) for k in range(8)] + [""]
        assert [r[4] for r in mine] == ["1"] * 8 + ["8"]
        est = np.array([[float(v) for v in r[5:8]] for r in mine])
        assert np.array_equal(est[:8], ref)           # full precision in the file
        assert np.allclose(est[8], ref.mean(axis=0), rtol=0, atol=1e-15)
        assert all(v == "" for r in mine for v in r[8:])  # no width output: empty
    # an error: exit status 1, the message names the input; no table written
    bad = tmp_path / "bad.csv"
    assert cli.main(["--run", str(stacked.train), "--out", str(bad), "--voxel-size", "4",
                     "--redshifts", "0,1", str(tmp_path / "grid.npy")]) == 1
    err = capsys.readouterr().err
    assert f"ERROR: {tmp_path / 'grid.npy'}: voxel size 4 Mpc/h, the network expects 2 Mpc/h" in err
    assert not bad.exists()


# --------------------------------------------------------------------------------------------
# widths of a network that outputs log-variances
def test_widths_of_a_network_with_log_variance_outputs(tmp_path_factory, tmp_path):
    case = _case(tmp_path_factory.mktemp("widths"), channels=True, input_norm="log1p",
                 outputs_per_label=2)
    run = trained.load(case.train)
    model = trained.load_model(run)
    [res] = stage.predict_input(model, run, case.voxel_dir())
    # by hand: the raw outputs of the network on log1p(counts), batch by batch
    import tensorflow as tf
    from cosmoflow.data.voxels import split_subvolumes
    x = np.stack([split_subvolumes(case.grid()[..., c], 16) for c in range(2)], axis=-1)
    raw = model(tf.math.log1p(tf.constant(x.astype(np.float32))), training=False).numpy()
    scale = np.array(run.label_norm["scale"])
    offset = np.array(run.label_norm["offset"])
    assert np.allclose(res.estimates.mean, offset + scale * raw[:, :3], rtol=1e-6)
    assert np.allclose(res.estimates.sd, np.exp(0.5 * raw[:, 3:].astype(np.float64)) * scale, rtol=1e-6)
    assert np.ptp(res.estimates.sd, axis=0).min() > 0
    out = tmp_path / "w.csv"
    table.write_csv(out, run.label_names, [res])
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert float(rows[3]["sigma_8_sd"]) == res.estimates.sd[3, 1]
    # the input row: evaluate's per-simulation combination (precision-weighted)
    w = 1.0 / res.estimates.sd[:, 2] ** 2
    assert np.isclose(float(rows[-1]["n_s"]), np.sum(w * res.estimates.mean[:, 2]) / w.sum())
    assert np.isclose(float(rows[-1]["n_s_sd"]), w.sum() ** -0.5)
    # evaluate's calibration: sample widths x its per-sample scale, input widths x per-simulation
    metrics = tmp_path / "metrics.json"
    unc = {level: {n: {"scale": f} for n in run.label_names}
           for level, f in (("per_sample", 2.0), ("per_simulation", 3.0))}
    metrics.write_text(json.dumps({"uncertainty": unc}))
    [cal] = stage.predict_input(model, run, case.voxel_dir(),
                                scales=trained.calibration_scales(metrics, run.label_names))
    np.testing.assert_allclose(cal.estimates.sd, 2.0 * res.estimates.sd)
    assert np.isclose(table.input_summary(cal.estimates, cal.input_scale)[1][2], 3.0 * w.sum() ** -0.5)
    metrics.write_text(json.dumps({"per_sample": {}}))
    with pytest.raises(ValueError, match="metrics.json: no 'uncertainty' block"):
        trained.calibration_scales(metrics, run.label_names)
    # a point network's outputs have no widths; any other width is refused
    assert core.estimates(raw[:, :3], run.label_norm, 3).sd is None
    with pytest.raises(ValueError, match=r"network output has 5 columns, expected 3 \(point head\) or 6"):
        core.estimates(raw[:, :5], run.label_norm, 3)
    shutil.rmtree(case.tmp)


# --------------------------------------------------------------------------------------------
# the Snakemake rule
@pytest.mark.slow   # two snakemake runs: ~30 s on 2 cores
def test_snakemake_predict_runs_over_a_folder(stacked, evaluated, tmp_path):
    """`snakemake predict` with predict.inputs set runs the rule over every entry of the folder
    (here on finished train and evaluate stages' outputs: --allowed-rules predict takes them as
    given), with evaluate's combinations; unset, it stops naming the key."""
    from conftest import TINY, run_snakemake

    proc = run_snakemake(tmp_path / "empty", "predict", "-n", check=False)
    assert proc.returncode != 0 and "predict.inputs is null" in proc.stdout + proc.stderr

    work = tmp_path / "work"
    shutil.copytree(stacked.train, work / "results" / "train", symlinks=True)
    (work / "results/tfrecords/train").mkdir(parents=True)
    shutil.copy(stacked.manifest("train"), work / "results/tfrecords/train/manifest.json")
    (work / "results/evaluate").mkdir()
    shutil.copy(evaluated / "combinations.json", work / "results/evaluate/combinations.json")
    shutil.copytree(stacked.voxel_dir(), work / "inputs" / stacked.test_sim)
    np.save(work / "inputs" / "grid.npy", stacked.grid())
    extra = tmp_path / "predict.yaml"
    extra.write_text("predict: {inputs: inputs, voxel_size: 2.0, redshifts: [0.0, 1.0]}\n")
    run_snakemake(work, "predict", "--allowed-rules", "predict", configfiles=(TINY, extra))
    with open(work / "results/predict/predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["input"] for r in rows if r["row"] == "input"] == [f"inputs/{stacked.test_sim}", "inputs/grid.npy"]
    ref = stage.predict_input(trained.load_model(trained.load(stacked.train)), trained.load(stacked.train),
                              stacked.voxel_dir())[0].estimates.mean
    # to the float32 rounding of the network's output: the rule's process may block the batch
    # differently (the .npy's estimates differed by 1e-8 relative on an AMD EPYC); another
    # sample's estimate would differ by the spread of the estimates (> 1e-3 here)
    assert np.ptp(ref, axis=0).min() > 1e-3 * np.abs(ref).max()
    for src in ("inputs/grid.npy", f"inputs/{stacked.test_sim}"):
        got = np.array([[float(r[n]) for n in ("Omega_m", "sigma_8", "n_s")]
                        for r in rows if r["input"] == src and r["row"] == "sample"])
        assert got.shape == ref.shape, src
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=0, err_msg=src)
    assert "8 samples" in (work / "results/logs/predict/predict.log").read_text()
    [box] = [r for r in rows if r["input"] == f"inputs/{stacked.test_sim}" and r["row"] == "input"]
    [sim_row] = _csv(evaluated / "predictions_simulation.csv")
    np.testing.assert_allclose([float(box[f"network_box_{n}"]) for n in ("Omega_m", "sigma_8", "n_s")],
                               [float(sim_row[f"network_box_{n}"]) for n in ("Omega_m", "sigma_8", "n_s")],
                               rtol=1e-5, atol=0)
