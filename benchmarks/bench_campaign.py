"""Simulation campaigns: simulations per hour from nothing to voxel files, batches of K simulations
per job (``sims.batch: K``) against today's one job per stage and simulation, in the same run.

Both variants run the literal `snakemake --cores C voxels --configfile config/config.yaml
<overlay>` in fresh results folders: the default config's stages (CLASS, builtin ICs, COLA with
its snapshots, voxels) with ``simulation.n_particles`` and ``sims.n_sims`` from the options and
``ics.keep: false`` (a campaign's setting: the ICs are deleted once COLA has read them); then
every output file of the two folders is compared: HDF5 datasets bit for bit and attributes
equal (paths that name the results folder compared relative to it), text files byte for byte.
Prints wall time, simulations per hour and the ratio; exits 1 if an output differs.

    python benchmarks/bench_campaign.py --n-particles 128 --n-sims 64 --batch 16
    python benchmarks/bench_campaign.py --n-particles 256 --n-sims 8 --batch 4
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run_campaign(results: Path, overlay: dict, cores: int) -> float:
    """Wall time [s] of `snakemake --cores C voxels` for the overlay config, from nothing."""
    cfg = results.parent / f"{results.name}.yaml"
    cfg.write_text(yaml.safe_dump({**overlay, "results": str(results)}))
    cmd = [str(BIN / "snakemake"), "--cores", str(cores), "voxels",
           "--configfile", str(ROOT / "config" / "config.yaml"), str(cfg)]
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}")
    return wall


def _plain(value, root: str):
    """An attribute value comparable across results folders."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        return value.replace(root, "<results>")
    return value.tolist() if isinstance(value, np.ndarray) else value


def h5_content(path: Path, root: str) -> dict:
    """Every dataset (array) and attribute of an HDF5 file."""
    out = {}
    with h5py.File(path, "r") as f:
        out["/"] = {k: _plain(v, root) for k, v in f.attrs.items()}

        def visit(name, obj):
            out[name + "@"] = {k: _plain(v, root) for k, v in obj.attrs.items()}
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
        f.visititems(visit)
    return out


def compare_outputs(a: Path, b: Path) -> list[str]:
    """Differences between two results folders' outputs (benchmarks/ and logs/ left out)."""
    def files(root):
        return {p.relative_to(root) for p in root.rglob("*")
                if p.is_file() and p.relative_to(root).parts[0] not in ("benchmarks", "logs")
                and not p.name.startswith(".")}
    fa, fb = files(a), files(b)
    diffs = [f"only in {a}: {p}" for p in sorted(fa - fb)] + [f"only in {b}: {p}" for p in sorted(fb - fa)]
    for rel in sorted(fa & fb):
        if rel.suffix in (".h5", ".hdf5"):
            x, y = h5_content(a / rel, str(a)), h5_content(b / rel, str(b))
            if x.keys() != y.keys():
                diffs.append(f"{rel}: datasets differ: {sorted(x.keys() ^ y.keys())}")
                continue
            for k in x:
                if isinstance(x[k], np.ndarray):
                    if x[k].dtype != y[k].dtype or not np.array_equal(x[k], y[k]):
                        diffs.append(f"{rel}: dataset {k} differs")
                elif x[k] != y[k]:
                    diffs.append(f"{rel}: attributes of {k} differ")
        elif (a / rel).read_bytes().replace(str(a).encode(), b"<results>") != \
                (b / rel).read_bytes().replace(str(b).encode(), b"<results>"):
            diffs.append(f"{rel}: bytes differ")
    return diffs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-particles", type=int, default=128)
    ap.add_argument("--n-sims", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16, help="sims.batch of the batched variant")
    ap.add_argument("--batch-threads", type=int, default=1)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=None, help="keep both results folders here")
    args = ap.parse_args()
    # ics.keep false as in a campaign (paper.yaml): 64 simulations of 128^3 would keep 7.4 GB of
    # ICs per variant; the snapshots and voxel files are what is compared
    base = {"sims": {"n_sims": args.n_sims, "n_val": 1, "n_test": 1},
            "simulation": {"n_particles": args.n_particles}, "ics": {"keep": False}}
    variants = {
        "per stage and simulation (baseline)": base,
        f"batches of {args.batch}": {**base, "sims": {**base["sims"], "batch": args.batch,
                                                       "batch_threads": args.batch_threads}},
    }
    tmp = tempfile.TemporaryDirectory(prefix="bench_campaign_")
    where = args.keep or Path(tmp.name)
    where.mkdir(parents=True, exist_ok=True)
    walls, folders = {}, []
    for i, (name, overlay) in enumerate(variants.items()):
        folders.append(where / f"results_{i}")
        walls[name] = run_campaign(folders[-1], overlay, args.cores)
        print(f"{name}: {walls[name]:.1f} s, {args.n_sims / walls[name] * 3600:.0f} simulations/h",
              flush=True)
    diffs = compare_outputs(*folders)
    (base_wall, ours_wall) = walls.values()
    print(f"\n{args.n_sims} simulations of {args.n_particles}^3 particles, {args.cores} cores: "
          f"batches of {args.batch} ({args.batch_threads} thread(s) each) "
          f"{args.n_sims / ours_wall * 3600:.0f}/h vs {args.n_sims / base_wall * 3600:.0f}/h per stage "
          f"and simulation: ratio {base_wall / ours_wall:.2f}")
    print("outputs: " + ("identical (HDF5 datasets bit for bit, attributes and text files equal)"
                         if not diffs else f"{len(diffs)} difference(s):\n  " + "\n  ".join(diffs[:20])))
    tmp.cleanup()
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
