"""One ablation run of docs/model.md: records from existing voxel files, then training; prints
and appends one row (validation metrics only: the test split is not read).

    python experiments/ablate.py --name light-4z --voxels results/workstation/voxels \\
        --config config/config.yaml config/workstation.yaml --redshifts 0 0.5 1.5 3 \\
        --set model.preset=light ... --out results/ablation

Records are written once per data variant (``--redshifts``, the voxel folder) under
``<out>/data/<key>/``; each run trains with ``mpiexec -n <train.ranks> python -m
cosmoflow.train`` in ``<out>/runs/<name>/`` (resumable with the same command) and appends its
best-epoch validation figures to ``<out>/ablation.csv``: RMSE per sample (``val_rmse_phys_*``,
from the training history) and per simulation (``val_sim_rmse_phys_*``: the exported model's
predictions averaged over each validation simulation's samples; the figure that compares rows
of different sample sizes).

    python experiments/ablate.py --rescore NAME ... (the same options)   # adds the per-simulation
                                   # columns to an existing row from its exported model
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_records(cfg: dict, voxels: Path, redshifts: list[float], out: Path) -> dict:
    """train/val manifests for the splits of ``cfg`` from ``voxels/<sim>/z<z>.h5``."""
    from cosmoflow import sampling
    from cosmoflow.data.tfrecord import write_split_from_config

    cfg = json.loads(json.dumps(cfg))
    cfg["cola"]["redshifts"] = redshifts
    cfg["tfrecords"]["redshift_channels"] = len(redshifts) > 1
    rows = sampling.sample(cfg)
    splits = {s: [r["sim"] for r in rows if r["split"] == s] for s in ("train", "val", "test")}
    paths = {}
    for split in ("train", "val"):          # never the test split: decisions use validation
        d = out / split
        if not (d / "manifest.json").exists():
            files = [str(voxels / sim / f"z{z:.2f}.h5") for sim in splits[split] for z in redshifts]
            write_split_from_config(cfg, split, splits, files, d)
        paths[split] = d / "manifest.json"
    return paths


def per_simulation_rmse(model: Path, manifest: Path, input_norm: str) -> dict[str, float]:
    """RMSE (physical units) of the per-simulation mean prediction on a split, per label."""
    import numpy as np

    from cosmoflow.evaluate.bootstrap import simulation_means
    from cosmoflow.evaluate.stage import predict

    pred, true, ids = predict(model, manifest, input_norm, batch_size=8)
    pred_sim, true_sim, _ = simulation_means(pred, true, [d["sim"] for d in ids])
    names = json.loads(Path(manifest).read_text())["label_names"]
    rmse = np.sqrt(((pred_sim - true_sim) ** 2).mean(0))
    return {f"val_sim_rmse_phys_{n}": float(v) for n, v in zip(names, rmse)}


def append_row(path: Path, row: dict) -> None:
    """Add (or replace, by name) one row of the CSV; columns are the union over rows."""
    rows = []
    if path.exists():
        with open(path, newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r["name"] != row["name"]]
    rows.append(row)
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, restval="")
        w.writeheader()
        w.writerows(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", required=True)
    p.add_argument("--voxels", required=True, help="folder of <sim>/z<z>.h5 voxel files")
    p.add_argument("--config", nargs="+", required=True, help="config files, merged in order")
    p.add_argument("--redshifts", nargs="+", type=float, required=True)
    p.add_argument("--set", action="append", default=[], help="SECTION.KEY=VALUE for training")
    p.add_argument("--out", default="results/ablation")
    p.add_argument("--rescore", action="store_true",
                   help="do not train: add the per-simulation columns to the existing row NAME")
    args = p.parse_args()

    from cosmoflow import config as cfgmod

    cfg = cfgmod.load(*args.config)
    out = Path(args.out)
    key = hashlib.sha256(json.dumps([str(Path(args.voxels).resolve()), args.redshifts,
                                     cfg["sims"], cfg["voxels"], cfg["tfrecords"]],
                                    sort_keys=True).encode()).hexdigest()[:10]
    t0 = time.time()
    man = build_records(cfg, Path(args.voxels), args.redshifts, out / "data" / key)
    t_data = time.time() - t0
    run_dir = out / "runs" / args.name
    run_dir.mkdir(parents=True, exist_ok=True)
    sections = {k: cfg[k] for k in ("model", "train", "data")}
    sections["model"]["input_size"] = cfg["voxels"]["subvolume"]
    ranks = int(cfg["train"]["ranks"])
    sets = [a for s in args.set for a in ("--set", s)]
    cmd = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks), sys.executable, "-m",
           "cosmoflow.train", "--config-json", json.dumps(sections), *sets,
           "--train-manifest", str(man["train"]), "--val-manifest", str(man["val"]),
           "--out", str(run_dir), "--ranks", str(ranks), "--resume"]
    # what the run trains with: the config under the same --set overrides the train CLI applies
    input_norm = cfgmod.apply_sets(json.loads(json.dumps(cfg)), args.set)["data"]["input_norm"]
    if args.rescore:
        with open(out / "ablation.csv", newline="") as fh:
            row = next(r for r in csv.DictReader(fh) if r["name"] == args.name)
        row.update(per_simulation_rmse(run_dir / "model.keras", man["val"], input_norm))
        append_row(out / "ablation.csv", row)
        print(json.dumps(row))
        return 0
    t1 = time.time()
    with open(run_dir / "train.log", "a") as log:
        rc = subprocess.run(cmd, stderr=log, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
                            cwd=ROOT).returncode
    wall = time.time() - t1
    if rc:
        print(f"{args.name}: training failed (rc {rc}), see {run_dir / 'train.log'}")
        return rc
    with open(run_dir / "history.csv") as fh:
        hist = list(csv.DictReader(fh))
    best = min(hist, key=lambda r: float(r["val_loss"]))
    train_m = json.loads(Path(man["train"]).read_text())
    sample = int(train_m["sample_shape"][0])
    from cosmoflow.data.voxels import read_voxels   # the voxel size of the files used
    _, attrs = read_voxels(next(Path(args.voxels).glob("*/z*.h5")))
    voxels_per_box = int(attrs["n_voxels"])
    row = {"name": args.name, "redshifts": " ".join(map(str, args.redshifts)),
           "voxel_mpc_h": cfg["simulation"]["box"] / voxels_per_box,
           "sample": sample, "n_train_sims": len(train_m["sims"]),
           "best_epoch": best["epoch"], "epochs": len(hist), "val_loss": best["val_loss"],
           **{k: v for k, v in best.items() if k.startswith("val_rmse_phys_")},
           "train_min": round(wall / 60, 1), "records_min": round(t_data / 60, 1),
           "samples_per_s": best["samples_per_s"], "set": " ".join(args.set),
           **per_simulation_rmse(run_dir / "model.keras", man["val"], input_norm)}
    append_row(out / "ablation.csv", row)
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
