"""Training throughput at 128^3: our MPI loop vs plain Keras ``model.fit``, same run.

Usage (from the repository root; --preset light or mlperf measures those networks)::

    python benchmarks/bench_train.py [--steps 20] [--warmup 3] [--preset paper]

Each measurement is a separate process (clean thread-pool settings) started by this driver,
one after the other, on the same data (Poisson(8) counts, log1p) and the same model (the paper's
network, ``model`` section of config/paper.yaml, 128^3). Printed: samples/s of each, ratios against the baseline measured
in this run, and the allreduce time per step of the 2-rank run.

* pair-ours-vs-keras-2t  ours and Keras fit alternating in ONE process (blocks of steps),
                  the fairest comparison on a shared machine
* ours-1r-2t      1 rank, 2 intra-op threads, cosmoflow.train.loop.Trainer (Adam + LARC)
* keras-fit-2t    plain Keras ``model.fit`` (Adam, MSE), batch 1, 2 intra-op threads
* ours-2r-1t      ``mpiexec -n 2`` (the venv's), 1 thread each: total samples/s
* ours-1r-2t-xla  as ours-1r-2t with ``jit_compile=True`` on the gradient step
* ours-1r-2t-inter2  inter-op pool of 2 instead of 1
* keras-fit-2t-xla  Keras fit with jit_compile=True (for reference)
"""
from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as cosmoflow sets it (see cosmoflow/__init__.py)
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pair_worker(args, model, ds, cfg) -> None:
    """Ours and Keras fit in ONE process, alternating blocks of steps (cancels machine drift)."""
    import keras
    import numpy as np

    from cosmoflow.train.dist import Dist
    from cosmoflow.train.loop import Trainer, TrainSettings

    s = dict(cfg["train"], ranks=1, threads_per_rank=args.threads, jit_compile=args.xla)
    trainer = Trainer(model, TrainSettings.from_config(s), Dist.single(), 3)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="mse", jit_compile=args.xla)
    k_times, o_times = [], []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            k_times.append(time.perf_counter() - self.t0)

    it = iter(ds)
    per = max(1, args.steps // args.rounds)
    for r in range(args.rounds + 1):  # round 0 = warm-up of both (tracing), discarded
        n = args.warmup if r == 0 else per
        model.fit(ds, epochs=1, steps_per_epoch=n, verbose=0, callbacks=[Timer()])
        for _ in range(n):
            t0 = time.perf_counter()
            trainer.step(next(it), 2e-3, False)
            o_times.append(time.perf_counter() - t0)
        if r == 0:
            k_times.clear()
            o_times.clear()
    res = {"ours_step_s": float(np.mean(o_times)), "keras_step_s": float(np.mean(k_times)),
           "ours_median_s": float(np.median(o_times)), "keras_median_s": float(np.median(k_times)),
           "samples_per_s": 1.0 / float(np.mean(o_times)), "step_s": float(np.mean(o_times)),
           "step_s_median": float(np.median(o_times)), "allreduce_s": 0.0,
           "keras_samples_per_s": 1.0 / float(np.mean(k_times)), "wall_s": 0.0}
    print("RESULT " + json.dumps(res), flush=True)


def bench_config(preset: str) -> dict:
    """model + train sections of the measured configuration, schema defaults filled.

    paper: the paper's network at 128^3 x 1 (config/paper.yaml), batch 1, Adam + LARC; light and
    mlperf: 32^3 x 4 samples (config/workstation.yaml's geometry) with the default config's
    recipe (config/config.yaml) at its batch per rank.
    """
    import yaml

    from cosmoflow.config import fill_section_defaults

    base = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    if preset == "paper":
        paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
        sections = {"model": paper["model"],
                    "train": {**base["train"], **paper["train"], "batch_per_rank": 1}}
        n_channels = 1
    else:
        sections = {"model": {"preset": preset, "input_size": 32},
                    "train": base["train"]}
        n_channels = 4
    out = fill_section_defaults(sections)
    out["n_channels"] = n_channels
    return out


def worker(args) -> None:
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.inter)
    import keras
    import yaml

    sys.path.insert(0, str(ROOT))
    from cosmoflow.model import build_model

    cfg = bench_config(args.preset)
    keras.utils.set_random_seed(0)
    dist = None
    if args.mode == "ours":
        from cosmoflow.train.dist import Dist

        dist = Dist.from_mpi(args.ranks) if args.ranks > 1 else Dist.single()
    rank = dist.rank if dist else 0
    size, ch, batch = (int(cfg["model"]["input_size"]), cfg["n_channels"],
                       int(cfg["train"]["batch_per_rank"]))
    n = args.warmup + args.steps
    rng = np.random.default_rng(100 + rank)
    x = np.log1p(rng.poisson(8.0, size=(8 * batch, size, size, size, ch))).astype(np.float32)
    y = rng.uniform(-1, 1, size=(len(x), 3)).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(batch).prefetch(2)
    model = build_model(**cfg["model"], n_outputs=3, n_channels=ch)
    times = []
    if args.mode == "pair":
        pair_worker(args, model, ds, cfg)
        return
    if args.mode == "keras":
        model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="mse", jit_compile=args.xla)

        class Timer(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                self.t0 = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                times.append(time.perf_counter() - self.t0)

        t_all = time.perf_counter()
        model.fit(ds, epochs=1, steps_per_epoch=n, verbose=0, callbacks=[Timer()])
        wall = time.perf_counter() - t_all
        ar = 0.0
    else:
        from cosmoflow.train.loop import Trainer, TrainSettings

        s = dict(cfg["train"], ranks=args.ranks, threads_per_rank=args.threads,
                 jit_compile=args.xla)
        trainer = Trainer(model, TrainSettings.from_config(s), dist, 3)
        trainer.broadcast_weights()
        it = iter(ds)
        ar0 = 0.0
        t_all = time.perf_counter()
        for i in range(n):
            if i == args.warmup:
                ar0 = dist.allreduce_seconds
            t0 = time.perf_counter()
            trainer.step(next(it), 2e-3, False)
            times.append(time.perf_counter() - t0)
        wall = time.perf_counter() - t_all
        ar = (dist.allreduce_seconds - ar0) / args.steps
    steady = times[args.warmup:]
    # steps of all ranks run in lockstep: total samples/s = ranks / mean step time
    result = {"step_s": float(np.mean(steady)), "step_s_median": float(np.median(steady)),
              "samples_per_s": args.ranks / float(np.mean(steady)), "allreduce_s": ar,
              "wall_s": wall}
    if rank == 0:
        print("RESULT " + json.dumps(result), flush=True)


def run(name: str, mode: str, *, ranks=1, threads=2, inter=1, xla=False, steps=20, warmup=3,
        preset="paper"):
    py = [sys.executable, __file__, "--worker", "--mode", mode, "--ranks", str(ranks),
          "--threads", str(threads), "--inter", str(inter), "--steps", str(steps),
          "--warmup", str(warmup), "--preset", preset] + (["--xla"] if xla else [])
    cmd = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks), *py] if ranks > 1 else py
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{name} failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    res = json.loads(lines[-1][7:])
    res["name"] = name
    if "keras_samples_per_s" in res:
        print(f"{name:20s} interleaved: ours {res['samples_per_s']:.3f} samples/s (step "
              f"{res['ours_step_s'] * 1e3:.1f} ms), keras fit {res['keras_samples_per_s']:.3f} "
              f"samples/s (step {res['keras_step_s'] * 1e3:.1f} ms), ratio "
              f"{res['samples_per_s'] / res['keras_samples_per_s']:.3f} (target >= 0.95)")
    print(f"{name:20s} {res['samples_per_s']:7.3f} samples/s  step {res['step_s'] * 1e3:7.1f} ms "
          f"(median {res['step_s_median'] * 1e3:.1f})  allreduce {res['allreduce_s'] * 1e3:6.2f} "
          "ms/step", flush=True)
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=["ours", "keras", "pair"], default="ours")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--ranks", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--inter", type=int, default=1)
    p.add_argument("--xla", action="store_true")
    p.add_argument("--preset", choices=["paper", "light", "mlperf"], default="paper",
                   help="network measured (paper: 128^3 x 1, batch 1; others 32^3 x 4)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--only", nargs="*", help="names of measurements to run")
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    k = dict(steps=args.steps, warmup=args.warmup, preset=args.preset)
    plan = [("pair-ours-vs-keras-2t", "pair", dict(threads=2)),
            ("keras-fit-2t", "keras", dict(threads=2)),
            ("ours-1r-2t", "ours", dict(threads=2)),
            ("ours-2r-1t", "ours", dict(ranks=2, threads=1)),
            ("ours-1r-2t-xla", "ours", dict(threads=2, xla=True)),
            ("ours-1r-2t-inter2", "ours", dict(threads=2, inter=2)),
            ("keras-fit-2t-xla", "keras", dict(threads=2, xla=True))]
    res = {}
    for name, mode, kw in plan:
        if args.only and name not in args.only:
            continue
        try:
            res[name] = run(name, mode, **kw, **k)
        except RuntimeError as err:
            print(f"{name:20s} FAILED: {str(err).splitlines()[-1]}", flush=True)
    print()

    def ratio(a, b, target):
        if a in res and b in res:
            r = res[a]["samples_per_s"] / res[b]["samples_per_s"]
            print(f"{a} / {b}: {r:.3f}  (target >= {target})")

    ratio("ours-1r-2t", "keras-fit-2t", 0.95)
    ratio("ours-2r-1t", "ours-1r-2t", 0.9)
    ratio("ours-1r-2t-xla", "ours-1r-2t", "-")
    ratio("ours-1r-2t-inter2", "ours-1r-2t", "-")
    ratio("keras-fit-2t-xla", "keras-fit-2t", "-")
    if "ours-2r-1t" in res:
        print(f"allreduce per step (2 ranks, {4 * 7042659 / 1e6:.1f} MB float32 gradients incl. "
              f"waiting): {res['ours-2r-1t']['allreduce_s'] * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
