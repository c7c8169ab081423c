"""The records stage's job: ours (records written without TensorFlow, cosmoflow.data.tfrecord_io)
against the same job with TensorFlow's writer (``tf.io.TFRecordWriter`` + ``tf.train.Example``,
the stage until 2026-12-02), interleaved in the same run, each a fresh Python process as a
Snakemake job is (interpreter start and imports included).

Input: a finished run's voxel files and one split's manifest.json (its config and simulations).
Both write the split to a temporary folder; their records are then compared: the same number
of records per file, every one the same tf.train.Example (protobuf leaves the order of map
entries open, so messages are compared, not bytes). Exits 1 if they differ.

    python benchmarks/bench_records_job.py --results results --split train --rounds 3
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

JOB = """
import json, sys
from pathlib import Path
from cosmoflow.data import tfrecord
args = json.loads(sys.argv[1])
if args["tensorflow"]:   # the writer as it was: TensorFlow's container and messages
    import tensorflow as tf

    def example_bytes(features):
        kind = {"bytes": "bytes_list", "float": "float_list", "int64": "int64_list"}
        lists = {"bytes": tf.train.BytesList, "float": tf.train.FloatList, "int64": tf.train.Int64List}
        return tf.train.Example(features=tf.train.Features(feature={
            name: tf.train.Feature(**{kind[k]: lists[k](value=v)}) for name, k, v in features
        })).SerializeToString()

    tfrecord.example_bytes = example_bytes
    tfrecord.RecordWriter = lambda path: tf.io.TFRecordWriter(str(path))
m = tfrecord.write_split_from_config(args["config"], args["split"], {args["split"]: args["sims"]},
                                     args["voxels"], args["out"])
print(m["n_samples"])
"""


def run_job(config: dict, split: str, sims: list, voxels: list, out: Path, tensorflow: bool) -> float:
    """Wall time [s] of one records job in a fresh process."""
    arg = json.dumps({"config": config, "split": split, "sims": sims, "voxels": voxels,
                      "out": str(out), "tensorflow": tensorflow})
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", JOB, arg], check=True, env=env, capture_output=True)
    return time.perf_counter() - t0


def same_records(a: Path, b: Path) -> list[str]:
    """Differences between two split folders' records (messages compared)."""
    import tensorflow as tf

    problems = []
    files = sorted(p.name for p in a.glob("*.tfrecord"))
    if files != sorted(p.name for p in b.glob("*.tfrecord")):
        return [f"record files differ: {files}"]
    for name in files:
        ra = [r.numpy() for r in tf.data.TFRecordDataset(str(a / name))]
        rb = [r.numpy() for r in tf.data.TFRecordDataset(str(b / name))]
        if len(ra) != len(rb):
            problems.append(f"{name}: {len(ra)} vs {len(rb)} records")
        elif any(tf.train.Example.FromString(x) != tf.train.Example.FromString(y) for x, y in zip(ra, rb)):
            problems.append(f"{name}: a record differs")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=ROOT / "results")
    ap.add_argument("--split", default="train")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    path = args.results / "tfrecords" / args.split / "manifest.json"
    if not path.is_file():   # `make bench` on a fresh clone: nothing to measure yet
        print(f"skipped: no {path} (a finished run's records and voxel files are the input: "
              f"`make run` first, or --results <its folder>)")
        return 0
    manifest = json.loads(path.read_text())
    config, sims = manifest["config"], [str(s) for s in manifest["sims"]]
    voxels = sorted(str(p) for s in sims for p in (args.results / "voxels" / s).glob("z*.h5"))
    times = {"ours": [], "tensorflow": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name in (("ours", "tensorflow") if r % 2 == 0 else ("tensorflow", "ours")):
                out = Path(tmp) / name
                times[name].append(run_job(config, args.split, sims, voxels, out, name == "tensorflow"))
                print(f"round {r + 1}: {name} {times[name][-1]:.2f} s", flush=True)
        problems = same_records(Path(tmp) / "ours", Path(tmp) / "tensorflow")
    best = {k: min(v) for k, v in times.items()}
    print(f"split {args.split}: {manifest['n_samples']} samples of {manifest['sample_shape']}, "
          f"{len(voxels)} voxel files")
    print(f"best of {args.rounds}: ours {best['ours']:.2f} s, TensorFlow's writer "
          f"{best['tensorflow']:.2f} s: {best['tensorflow'] / best['ours']:.2f}x")
    print("records: the same messages" if not problems else "DIFFER: " + "; ".join(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
