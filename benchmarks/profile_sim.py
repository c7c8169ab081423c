"""Cost per simulation against its floor: one simulation through the batch path
(``cosmoflow.sim_batch.run_simulation``: cosmology -> power -> ICs -> COLA -> voxels, the default
config's stages, ``ics.keep: false`` as in a campaign) with every part timed, and a floor for
each part measured in the same process right after.

Parts are timed by wrapping the functions the stages call (exclusive times: an FFT inside
``pm.potential_k`` counts as FFT, not as the Green's function): CLASS runs, scipy.fft calls, the
numba particle kernels (CIC paint, force interpolation + kick, drift), the voxel histogram,
HDF5 reads and writes, the ICs' numpy arithmetic. Floors:

- CLASS: one CLASS run per simulation (the cheaper of the two the pipeline makes, the table's);
- FFTs: every scipy.fft call of the simulation replayed alone on an array of the same shape,
  dtype and arguments (best of 3): the transforms it must do, with the library it uses;
- particle and mesh loops: the bytes each must read and write once, at the memory bandwidth of a
  numba streaming triad with the same threads;
- HDF5: the same number of bytes written with ``ndarray.tofile`` (read with ``numpy.fromfile``)
  in the same folder, best of 3.

The first simulation (sim 0) warms up (imports, numba's cache, CLASS); sim 1 is profiled.

    python benchmarks/profile_sim.py --n 128              # ~15 s quiet
    python benchmarks/profile_sim.py --n 256 --threads 1
"""
from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import h5py  # noqa: E402
import numba as nb  # noqa: E402
import scipy.fft  # noqa: E402

from cosmoflow import config as cfgmod  # noqa: E402
from cosmoflow import power, sampling, sim_batch  # noqa: E402
from cosmoflow.data import voxels as vox  # noqa: E402
from cosmoflow.sim_stages import cola as st_cola  # noqa: E402
from cosmoflow.sim_stages import cosmology as st_cosmology  # noqa: E402
from cosmoflow.sim_stages import ics as st_ics  # noqa: E402
from cosmoflow.sim_stages import power as st_power  # noqa: E402
from cosmoflow.sim_stages import voxels as st_voxels  # noqa: E402
from pycola_wrapper import cic, cola, ics, lpt, pm, simulate  # noqa: E402


class Probe:
    """Exclusive wall time and call count per (stage, part) of wrapped functions."""

    def __init__(self) -> None:
        self.stage = "-"
        self.stack: list[float] = []
        self.excl = collections.defaultdict(float)
        self.calls = collections.Counter()
        self.fft_calls = collections.Counter()     # (name, shape, dtype, kwargs) -> count
        self.bytes = collections.defaultdict(int)  # (stage, part) -> bytes moved
        self._restore = []

    def wrap(self, owner, attr: str, part: str, record=None, stage: str | None = None) -> None:
        fn = getattr(owner, attr)

        def wrapper(*args, **kwargs):
            if stage is not None:
                self.stage = stage
            t0 = time.perf_counter()
            self.stack.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                child = self.stack.pop()
                key = (self.stage, part)
                self.excl[key] += dt - child
                self.calls[key] += 1
                if self.stack:
                    self.stack[-1] += dt
                if record is not None:
                    record(key, args, kwargs)

        setattr(owner, attr, wrapper)
        self._restore.append((owner, attr, fn))

    def unwrap(self) -> None:
        for owner, attr, fn in reversed(self._restore):
            setattr(owner, attr, fn)
        self._restore.clear()


def instrument(probe: Probe) -> None:
    def fft_record(name):
        def rec(key, args, kwargs):
            x = args[0]
            kw = tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                              for k, v in kwargs.items() if k != "workers"))
            probe.fft_calls[(key[0], name, x.shape, str(x.dtype), kw)] += 1
        return rec

    for name in ("rfftn", "irfftn", "ifftn", "irfft"):
        probe.wrap(scipy.fft, name, "FFT", fft_record(name))

    def nbytes_of(what):
        def rec(key, args, kwargs):
            probe.bytes[key] += what(args, kwargs)
        return rec

    # stages (their time not in a part below is the stage's "rest")
    for mod, stage in ((st_cosmology, "cosmology"), (st_power, "power"), (st_ics, "ics"),
                       (st_cola, "cola"), (st_voxels, "voxels")):
        probe.wrap(mod, "run", "rest (Python, small files, logs)", stage=stage)
    probe.wrap(power, "run_class", "CLASS run")
    # ICs
    probe.wrap(lpt, "white_noise", "white noise (PCG64 normals)")
    for fn in ("linear_delta_k", "second_order_source", "_apply", "inverse_laplacian"):
        probe.wrap(lpt, fn, "array arithmetic (k factors, 2LPT source)")
    probe.wrap(ics, "_fill_padded", "padded copies (MUSIC layout)",
               nbytes_of(lambda a, k: a[1].nbytes + a[0].nbytes))
    # COLA
    probe.wrap(ics, "read_lpt", "HDF5 read")
    probe.wrap(cic.Painter, "paint", "CIC paint")
    probe.wrap(cola, "_to_delta", "density contrast")
    probe.wrap(pm, "_apply_green", "Green's function")
    probe.wrap(cola, "_kick", "force interpolation + kick")
    probe.wrap(cola, "_drift", "drift")
    probe.wrap(cola, "_init_positions", "2LPT positions at a_start")
    probe.wrap(cola, "drift_factor", "time-step factors (quad)")
    probe.wrap(cola, "_mean_velocity", "progress (mean momentum)")
    # voxels
    probe.wrap(vox, "read_snapshot", "HDF5 read")
    probe.wrap(vox, "histogram_counts", "histogram")
    # every HDF5 dataset write
    probe.wrap(h5py.Group, "create_dataset", "HDF5 write",
               nbytes_of(lambda a, k: np.asarray(k["data"]).nbytes if "data" in k else 0))


# ---------------------------------------------------------------------------------------------
# floors
# ---------------------------------------------------------------------------------------------

@nb.njit(parallel=True, cache=True)
def _triad(a, b, c, s):
    for i in nb.prange(a.shape[0]):
        a[i] = b[i] + s * c[i]


def bandwidth(threads: int, n: int = 1 << 25) -> float:
    """Bytes per second of a numba streaming triad (3 arrays of 128 MB: 2 read, 1 written)."""
    nb.set_num_threads(threads)
    a, b, c = (np.ones(n, dtype=np.float32) for _ in range(3))
    _triad(a, b, c, np.float32(0.5))
    best = min(_timeit(lambda: _triad(a, b, c, np.float32(0.5))) for _ in range(5))
    return 3 * 4 * n / best


def _timeit(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def fft_floor(probe: Probe, stage: str, workers: int) -> float:
    """The stage's scipy.fft calls replayed alone (best of 3 each) [s]."""
    total = 0.0
    rng = np.random.default_rng(0)
    for (st, name, shape, dtype, kw), count in probe.fft_calls.items():
        if st != stage:
            continue
        x = rng.standard_normal(shape).astype(dtype) if "complex" not in dtype else \
            (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
        fn = getattr(scipy.fft, name)
        kwargs = dict(kw)
        best = np.inf
        for _ in range(4):           # the first call warms pocketfft's plan cache
            y = x.copy()             # overwrite_x may destroy its input
            best = min(best, _timeit(lambda: fn(y, workers=workers, **kwargs)))
        total += count * best
    return total


def first_touch(nbytes: int = 1 << 28, idle: float = 4.0) -> tuple[float, float]:
    """Bytes per second of the first write of a fresh np.empty array of nbytes (its page faults):
    (right after the same amount was freed, after ``idle`` seconds more). A VM that reports
    freed memory to its host (virtio-balloon free page reporting, here after ~2-3 s) makes the
    second slow: what a stage's new arrays and page cache can cost."""
    def touch() -> float:
        t0 = time.perf_counter()
        a = np.empty(nbytes // 4, dtype=np.float32)
        a.fill(1.0)
        return nbytes / (time.perf_counter() - t0)

    touch()
    fast = touch()
    time.sleep(idle)
    return fast, touch()


def io_rates(folder: Path, nbytes: int) -> tuple[float, float, float]:
    """(write, read, sustained write) bytes per second in folder: a raw file of nbytes written
    and read back (best of 3: the page cache's rate), and 8 new files of 128 MiB written one
    after the other (the rate of the last 4: once the kernel's dirty-page limit is reached,
    what the disk sustains)."""
    data = np.ones(max(nbytes // 4, 1), dtype=np.float32)
    path = folder / "io_floor.bin"
    w = min(_timeit(lambda: data.tofile(path)) for _ in range(3))
    r = min(_timeit(lambda: np.fromfile(path, dtype=np.float32)) for _ in range(3))
    path.unlink()
    block = np.ones(1 << 25, dtype=np.float32)
    paths = [folder / f"io_sustained_{i}.bin" for i in range(8)]
    times = [_timeit(lambda: block.tofile(q)) for q in paths]
    for q in paths:
        q.unlink()
    return data.nbytes / w, data.nbytes / r, 4 * block.nbytes / sum(times[4:])


# ---------------------------------------------------------------------------------------------

def sim_paths(root: Path, sim: str, redshifts) -> sim_batch.SimPaths:
    z = {float(r): f"{float(r):.2f}" for r in redshifts}
    d = root / "sims" / sim
    return sim_batch.SimPaths(
        cosmology=str(d / "cosmology.json"), power=str(root / "power" / f"{sim}.h5"),
        conf=str(d / "music.conf"), transfer=str(d / "transfer_camb.txt"), ics=None,
        snapshots={r: str(d / f"snapshot_z{s}.hdf5") for r, s in z.items()},
        voxels={r: str(root / "voxels" / sim / f"z{s}.h5") for r, s in z.items()},
        logs={**{s: str(root / "logs" / s / f"{sim}.log") for s in ("cosmology", "power", "ics", "cola")},
              **{("voxels", r): str(root / "logs" / "voxels" / f"{sim}_z{s}.log") for r, s in z.items()}})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=128, help="particles per side (box: the config's, 256 Mpc/h)")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads of the batch job (sims.batch_threads; default 1 as the config)")
    ap.add_argument("--workdir", type=Path, default=None, help="results folder (default: a temporary one)")
    args = ap.parse_args()
    config = cfgmod.load()
    config["simulation"]["n_particles"] = args.n
    config["ics"]["keep"] = False
    for section in ("ics", "cola", "voxels"):
        config[section]["threads"] = args.threads
    rows = sampling.sample(config)[:2]
    tmp = tempfile.TemporaryDirectory(prefix="profile_sim_")
    root = args.workdir or Path(tmp.name)
    zs = config["cola"]["redshifts"]
    print(f"{args.n}^3 particles, box {config['simulation']['box']} Mpc/h, mesh "
          f"{args.n * config['cola']['gridscale']}^3, {config['cola']['n_steps']} steps, "
          f"{len(zs)} snapshots, {config['voxels']['n_voxels']}^3 voxels, {args.threads} thread(s); "
          f"results in {root}", flush=True)
    t0 = time.perf_counter()
    sim_batch.run_simulation(rows[0], config, sim_paths(root, rows[0]["sim"], zs), args.threads)
    print(f"warm-up simulation {rows[0]['sim']}: {time.perf_counter() - t0:.1f} s", flush=True)

    probe = Probe()
    instrument(probe)
    try:
        stage_times = sim_batch.run_simulation(rows[1], config, sim_paths(root, rows[1]["sim"], zs),
                                               args.threads)
    finally:
        probe.unwrap()
    total = sum(stage_times.values())
    print(f"profiled simulation {rows[1]['sim']}: {total:.2f} s: " +
          ", ".join(f"{k} {v:.2f}" for k, v in stage_times.items()), flush=True)

    # ---- floors ----
    touch = first_touch()
    bw = bandwidth(args.threads)
    n3, m = args.n**3, args.n * int(config["cola"]["gridscale"])
    m3, V3 = m**3, int(config["voxels"]["n_voxels"]) ** 3
    hbytes = {k: v for k, v in probe.bytes.items() if k[1] in ("HDF5 write",)}
    wr, rd, disk = io_rates(root, max(hbytes.values(), default=1 << 20))
    snap_bytes = 12 * n3
    # CLASS floor: the table's run alone (one CLASS run per simulation)
    row = rows[1]
    cosmo = power.cosmology_from_row(sampling.read_row(sim_paths(root, row["sim"], zs).cosmology),
                                     config["cosmology"])
    k_max = power.k_max_for(float(row["box"]), m)
    k = np.logspace(np.log10(config["power"]["k_min"]), np.log10(k_max), config["power"]["n_k"])
    A_s = sampling.read_row(sim_paths(root, row["sim"], zs).cosmology)["A_s"]
    class_floor = min(_timeit(lambda: power.class_linear(k, cosmo, A_s, p_k_max=1.05 * k_max))
                      for _ in range(3))
    noise_floor = min(_timeit(lambda: np.random.default_rng(1).standard_normal(
        (args.n,) * 3, dtype=np.float32)) for _ in range(3))
    def calls(stage, part):
        return probe.calls[(stage, part)]

    pad_bytes = probe.bytes[("ics", "padded copies (MUSIC layout)")]
    floors = {  # (stage, part) -> (floor [s], how)
        ("cosmology", "CLASS run"): (0.0, "none: one CLASS run per simulation is the power row's"),
        ("power", "CLASS run"): (class_floor, "one CLASS run (this one, alone)"),
        ("ics", "FFT"): (fft_floor(probe, "ics", args.threads), "the same scipy.fft calls alone"),
        ("cola", "FFT"): (fft_floor(probe, "cola", args.threads), "the same scipy.fft calls alone"),
        ("ics", "white noise (PCG64 normals)"): (noise_floor, "numpy standard_normal, N^3 float32"),
        ("ics", "padded copies (MUSIC layout)"): (pad_bytes / bw, "read N^3, write (N+8)^3 float32"),
        ("cola", "CIC paint"): (calls("cola", "CIC paint") * (12 * n3 + 8 * m3) / bw,
                                "read positions, zero + write the mesh"),
        ("cola", "density contrast"): (calls("cola", "density contrast") * 8 * m3 / bw,
                                       "read + write the mesh"),
        ("cola", "Green's function"): (calls("cola", "Green's function") * 16 * m * m * (m // 2 + 1) / bw,
                                       "read + write the complex64 half mesh"),
        ("cola", "force interpolation + kick"): (
            calls("cola", "force interpolation + kick") * (60 * n3 + 4 * m3) / bw,
            "read pos, Psi1, Psi2, vel, phi; write vel"),
        ("cola", "drift"): (calls("cola", "drift") * 60 * n3 / bw, "read pos, vel, Psi1, Psi2; write pos"),
        ("cola", "2LPT positions at a_start"): (36 * n3 / bw, "read Psi1, Psi2; write pos"),
        ("cola", "HDF5 read"): (24 * n3 / rd, "Psi1 + Psi2 bytes by numpy.fromfile"),
        ("voxels", "HDF5 read"): (calls("voxels", "HDF5 read") * snap_bytes / rd,
                                  "positions bytes by numpy.fromfile"),
        ("voxels", "histogram"): (calls("voxels", "histogram") * (12 * n3 + 8 * V3) / bw,
                                  "read positions, write counts"),
    }
    for key, nbytes in hbytes.items():
        floors[key] = (nbytes / wr, f"{nbytes / 2**20:.0f} MiB by ndarray.tofile (page cache); at the "
                                    f"disk's sustained rate {nbytes / disk:.3f} s")
    print(f"\nmemory bandwidth (numba triad, {args.threads} thread(s)): {bw / 1e9:.1f} GB/s "
          f"(the particle and mesh loops' floor: their bytes at this rate); "
          f"file write {wr / 1e9:.2f} GB/s, read {rd / 1e9:.2f} GB/s (page cache), sustained write "
          f"{disk / 1e9:.2f} GB/s (new files past the dirty-page limit: the disk); first touch of a "
          f"fresh 256 MiB array {touch[0] / 1e9:.2f} GB/s, after 4 s idle {touch[1] / 1e9:.2f} GB/s "
          f"(page faults: every part writing new memory pays them)\n")
    print("| stage | part | calls | measured [s] | floor [s] | ratio | floor: how |")
    print("|---|---|---|---|---|---|---|")
    order = ["cosmology", "power", "ics", "cola", "voxels"]
    for stage in order:
        keys = sorted((k for k in probe.excl if k[0] == stage), key=lambda k: -probe.excl[k])
        for key in keys:
            t = probe.excl[key]
            f, how = floors.get(key, (None, ""))
            ratio = f"{t / f:.1f}x" if f else "-"
            fs = f"{f:.3f}" if f is not None else "-"
            print(f"| {stage} | {key[1]} | {probe.calls[key]} | {t:.3f} | {fs} | {ratio} | {how} |")
        print(f"| {stage} | **total** | | **{stage_times[stage]:.3f}** | | | |")
    print(f"| all | **simulation** | | **{total:.3f}** | | | |")

    # simpler kernels on the z = 0 positions: what a paint without the deterministic sort and an
    # interpolation of precomputed gradient meshes would cost (not bit-identical alternatives)
    pos = vox.read_snapshot(sim_paths(root, row["sim"], zs).snapshots[min(map(float, zs))])[0]
    box = float(row["box"])
    inv_h = np.float32(m / box)
    mesh = np.zeros((m,) * 3, dtype=np.float32)
    cic._paint_serial(mesh, pos, inv_h, np.float32(1.0))
    paint1 = min(_timeit(lambda: cic._paint_serial(mesh, pos, inv_h, np.float32(1.0))) for _ in range(3))
    cic.read(mesh, pos, box)
    read1 = min(_timeit(lambda: cic.read(mesh, pos, box)) for _ in range(3))
    n_paint, n_kick = calls("cola", "CIC paint"), calls("cola", "force interpolation + kick")
    print(f"\nreference kernels ({args.threads} thread(s)), per simulation: serial unsorted CIC paint "
          f"{n_paint * paint1:.3f} s ({n_paint} x {paint1 * 1e3:.1f} ms; ours "
          f"{probe.excl[('cola', 'CIC paint')]:.3f} s); 3 CIC reads of precomputed gradient meshes "
          f"{n_kick * 3 * read1:.3f} s ({n_kick} x 3 x {read1 * 1e3:.1f} ms; ours, gradient + "
          f"interpolation + kick in one pass: {probe.excl[('cola', 'force interpolation + kick')]:.3f} s)")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
