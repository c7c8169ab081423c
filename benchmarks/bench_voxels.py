"""Histogram speed: ours (numba, per-thread private histograms) vs numpy.histogramdd.

Default: 512^3 particles in a 512 Mpc/h box into 256^3 voxels (the paper's voxelization), on
positions in Lagrangian order (lattice + Zel'dovich displacement + jitter, some outside [0, L)).
Both run in this process on the same wrapped positions; identical counts are asserted.

    python benchmarks/bench_voxels.py            # 512^3 -> 256^3 (about 8 GB peak, histogramdd)
    python benchmarks/bench_voxels.py --n 256    # quick: 256^3 particles -> 128^3 voxels
"""
import argparse
import os
import time

import numba
import numpy as np

from cosmoflow.data.synthetic import lattice_positions, zeldovich_displacement
from cosmoflow.data.voxels import histogram_counts, wrap_positions


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=512, help="particles per side (default 512)")
    ap.add_argument("--voxels", type=int, default=None, help="voxels per side (default n/2)")
    ap.add_argument("--box", type=float, default=None, help="box [Mpc/h] (default n)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="timed runs of ours (best kept)")
    a = ap.parse_args()
    n, V = a.n, a.voxels or a.n // 2
    L = a.box or float(a.n)
    print(f"{n}^3 particles, box {L} Mpc/h -> {V}^3 voxels, {a.threads} threads "
          f"(cpus: {os.cpu_count()}, numba {numba.__version__}, numpy {np.__version__})")
    t = time.perf_counter()
    pos = lattice_positions(n, L, zeldovich_displacement(64, L, 6.0, seed=1), seed=2)
    print(f"positions generated in {time.perf_counter() - t:.1f} s; "
          f"{np.mean((pos < 0) | (pos >= L)):.2%} of coordinates outside [0, L)")

    histogram_counts(pos[:1000], L, V, threads=a.threads, engine="numba")  # compile (disk cache)
    ours, ours1 = [], []
    for _ in range(a.repeat):
        t = time.perf_counter()
        counts = histogram_counts(pos, L, V, threads=a.threads, engine="numba")
        ours.append(time.perf_counter() - t)
    t = time.perf_counter()
    counts1 = histogram_counts(pos, L, V, threads=1, engine="numba")
    ours1.append(time.perf_counter() - t)
    assert np.array_equal(counts, counts1)
    t = time.perf_counter()
    w = wrap_positions(pos, L)
    t_wrap = time.perf_counter() - t
    del pos
    t = time.perf_counter()
    ref = np.histogramdd(w, V, range=((0, float(np.float32(L))),) * 3)[0]
    t_np = time.perf_counter() - t
    assert np.array_equal(counts, ref), "counts differ from numpy.histogramdd"
    assert int(counts.sum()) == n ** 3
    best = min(ours)
    print(f"{'method':<40}{'seconds':>10}{'speed-up':>10}")
    print(f"{'numpy.histogramdd (on wrapped input)':<40}{t_np:>10.2f}{1.0:>10.1f}")
    print(f"{'numpy wrap_positions alone':<40}{t_wrap:>10.2f}")
    print(f"{'ours: numba, 1 thread, wrap included':<40}{ours1[0]:>10.2f}{t_np / ours1[0]:>10.1f}")
    print(f"{'ours: numba, %d threads (best of %d)' % (a.threads, a.repeat):<40}{best:>10.2f}"
          f"{t_np / best:>10.1f}")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"identical counts: yes; total {int(counts.sum())} = {n}^3; max count {counts.max()}")


if __name__ == "__main__":
    main()
