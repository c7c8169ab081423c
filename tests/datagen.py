"""Small synthetic inputs for the data-stage tests: snapshots, voxel files, record splits.

The COLA stage is built in parallel, so these tests write their own snapshot files following
the contract (``/positions`` float32 (N, 3) [Mpc/h] + root attributes).
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import yaml

from cosmoflow.data.synthetic import zeldovich_positions
from cosmoflow.data.tfrecord import write_split_from_config
from cosmoflow.data.voxels import voxelize_snapshot

ROOT = Path(__file__).resolve().parents[1]


def small_config(**tfrecords) -> dict:
    """config/config.yaml with test sizes: 32^3 particles in 64 Mpc/h, 32^3 voxels, 16^3 samples,
    one redshift (z = 0) per sample unless the caller asks for channels (tfrecords keys)."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["simulation"].update(box=64.0, n_particles=32)
    cfg["voxels"].update(n_voxels=32, subvolume=16)
    cfg["model"]["input_size"] = 16
    cfg["cola"]["redshifts"] = [0.0]
    cfg["tfrecords"].update(samples_per_file=5, redshift_channels=False)
    cfg["tfrecords"].update(**tfrecords)
    cfg["sims"].update(n_sims=6, n_val=1, n_test=1)
    return cfg


def write_snapshot(path, positions, *, sim: str, box: float, cosmo: dict, z: float = 0.0):
    """A snapshot file per the COLA contract."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_side = round(len(positions) ** (1 / 3))
    with h5py.File(path, "w") as f:
        f["positions"] = positions.astype(np.float32)
        f.attrs.update(sim=sim, box=box, n_particles=n_side, z=z, a=1 / (1 + z), n_steps=10,
                       mesh=n_side, engine="test", version="test",
                       Omega_L=1 - cosmo["Omega_m"], **cosmo)
    return path


def sim_cosmology(cfg: dict, i: int) -> dict:
    """Distinct cosmological parameters inside the config ranges for simulation i."""
    rng = np.random.default_rng(100 + i)
    c = cfg["cosmology"]
    return {k: float(rng.uniform(*c[k])) for k in ("Omega_m", "sigma_8", "n_s")} | {
        "H0": float(c["H0"])}


def make_splits(tmp: Path, cfg: dict) -> dict:
    """Snapshots -> voxel files -> record splits; returns {split: manifest}, plus the sims.

    One snapshot per simulation and ``cola.redshifts`` entry: the same Zel'dovich phases with
    the displacement scaled by 1 / (1 + z) (a stand-in for growth).
    """
    n, nv, nt = cfg["sims"]["n_sims"], cfg["sims"]["n_val"], cfg["sims"]["n_test"]
    nc = cfg["sims"].get("n_cal", 0)
    sims = [f"{i:05d}" for i in range(n)]
    splits = {"train": sims[:n - nv - nt - nc], "val": sims[n - nv - nt:n - nt], "test": sims[n - nt:]}
    if nc:  # sims.n_cal: a calibration split
        splits["cal"] = sims[n - nv - nt - nc:n - nv - nt]
    box, n_side = cfg["simulation"]["box"], cfg["simulation"]["n_particles"]
    vox = {}
    for i, sim in enumerate(sims):
        vox[sim] = []
        for z in cfg["cola"]["redshifts"]:
            pos = zeldovich_positions(n_side, box, rms_displacement=3.0 / (1 + z), seed=i)
            snap = write_snapshot(tmp / "sims" / sim / f"snapshot_z{z:.2f}.hdf5", pos, sim=sim,
                                  box=box, cosmo=sim_cosmology(cfg, i), z=z)
            vox[sim].append(tmp / "voxels" / sim / f"z{z:.2f}.h5")
            voxelize_snapshot(snap, vox[sim][-1], sim=sim, n_voxels=cfg["voxels"]["n_voxels"],
                              subvolume=cfg["voxels"]["subvolume"])
    return {split: write_split_from_config(cfg, split, splits, [v for s in ss for v in vox[s]],
                                           tmp / "tfrecords" / split)
            for split, ss in splits.items()}


def make_trained_run(out: Path, train_manifest, val_manifest, cfg: dict, *,
                     outputs_per_label: int = 1, seed: int = 0) -> Path:
    """The train stage's outputs for an untrained network on these splits, laid out as
    ``cosmoflow.train`` lays them out: ``out/runs/<id>-1/`` (run.json, config.yaml,
    model.keras, label_norm.json, history.csv), published to ``out`` with ``runs/latest``.

    ``outputs_per_label`` 2: the network outputs means then log-variances (a width head).
    Returns the run folder.
    """
    import json

    import keras

    from cosmoflow.data.reader import channel_standardization, read_manifest
    from cosmoflow.model import build_model
    from cosmoflow.train import runs

    m = read_manifest(train_manifest)
    mo, data = cfg["model"], cfg["data"]
    keras.utils.set_random_seed(seed)
    stats = {}
    if data.get("standardize"):
        stats = dict(zip(("input_mean", "input_std"),
                         channel_standardization(m, data["input_norm"])))
    model = build_model(int(mo["input_size"]), mo.get("conv_filters"), mo.get("dense"),
                        n_outputs=outputs_per_label * len(m["label_names"]),
                        n_channels=int(m["sample_shape"][3]), preset=mo.get("preset", "light"),
                        **stats)
    ident = runs.identity({**mo, "outputs_per_label": outputs_per_label}, data, cfg["train"],
                          runs.inputs_of(train_manifest, val_manifest))
    run_dir = Path(out) / "runs" / f"{runs.run_id(ident)}-1"
    runs.start(run_dir, ident, cfg, resume=False, world_size=1,
               sources={"train": str(train_manifest), "val": str(val_manifest)})
    model.save(run_dir / "model.keras")
    (run_dir / "label_norm.json").write_text(json.dumps(
        {"label_names": m["label_names"], "label_norm": m["label_norm"]}, indent=2) + "\n")
    (run_dir / "history.csv").write_text("epoch,loss,val_loss\n1,1.0,1.0\n")
    runs.end(run_dir, "finished", history=[{"epoch": 1, "loss": 1.0, "val_loss": 1.0}])
    runs.publish(run_dir, out)
    return run_dir
