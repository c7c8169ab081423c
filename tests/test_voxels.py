"""Voxelization: exact equality with numpy.histogramdd, periodic wrap, sub-volumes, file edges."""
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from cosmoflow.data.voxels import (assemble_subvolumes, histogram_counts, read_snapshot,
                                   read_subvolume, read_voxels, split_subvolumes,
                                   subvolume_slices, voxelize_snapshot, wrap_positions)
from datagen import write_snapshot

COSMO = {"Omega_m": 0.3, "sigma_8": 0.8, "n_s": 0.96, "H0": 70.3}


def reference(pos, box, V):
    L = float(pos.dtype.type(box))
    return np.histogramdd(wrap_positions(pos, box), V, range=((0, L),) * 3)[0]


def edge_positions(box, dtype):
    L = dtype(box)
    tiny = np.nextafter(dtype(0), dtype(-1))
    vals = np.array([0, L, -L, 2 * L, -1e-9, tiny, np.nextafter(L, dtype(0)),
                     np.nextafter(L, dtype(2 * L)), -0.5 * L, 1.5 * L, 7 * L + 0.25,
                     L / 32 * 3, -L / 32 * 3], dtype=dtype)
    g = np.stack(np.meshgrid(vals, vals, vals, indexing="ij"), -1).reshape(-1, 3)
    return g


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("box", [64.0, 100.1])
def test_histogram_equals_histogramdd(dtype, box, engine):
    rng = np.random.default_rng(1)
    pos = np.concatenate([rng.uniform(-box, 2 * box, (50_000, 3)),
                          rng.uniform(0, box, (50_000, 3))]).astype(dtype)
    pos = np.concatenate([pos, edge_positions(box, dtype)])
    for V in (16, 24, 32):      # 24: voxel side not a power of two (general kernel)
        c = histogram_counts(pos, box, V, engine=engine)
        assert c.shape == (V, V, V) and c.dtype == np.uint32
        assert int(c.sum()) == len(pos)
        np.testing.assert_array_equal(c, reference(pos, box, V))


def test_histogram_threads_agree():
    rng = np.random.default_rng(2)
    pos = rng.uniform(0, 64, (30_001, 3)).astype(np.float32)
    np.testing.assert_array_equal(histogram_counts(pos, 64.0, 32, threads=1, engine="numba"),
                                  histogram_counts(pos, 64.0, 32, threads=2, engine="numba"))


def test_histogram_engines_reject_non_finite_and_unknown_engine():
    pos = np.array([[1.0, 2.0, 3.0], [np.inf, 0.0, 0.0]], np.float32)
    for engine in ("numba", "numpy"):
        with pytest.raises(ValueError, match="non-finite"):
            histogram_counts(pos, 64.0, 8, engine=engine)
    with pytest.raises(ValueError, match="engine must be 'auto', 'numba' or 'numpy', got 'gpu'"):
        histogram_counts(pos[:1], 64.0, 8, engine="gpu")


def test_voxel_job_of_a_small_snapshot_does_not_load_numba(tmp_path):
    """The per-simulation voxel job's process (the stage function, as workflow/scripts/voxels.py
    calls it) histograms a small snapshot without importing numba (its start-up is ~1 s, most
    of the job), and its counts are those of the compiled loop."""
    pos = np.random.default_rng(5).uniform(-4.0, 36.0, (16**3, 3))
    snap = write_snapshot(tmp_path / "snapshot_z0.00.hdf5", pos, sim="00003", box=32.0, cosmo=COSMO)
    code = ("import sys; from cosmoflow.sim_stages import voxels; "
            f"voxels.run({str(snap)!r}, {str(tmp_path / 'v.h5')!r}, sim='00003', n_voxels=16, "
            "subvolume=8, threads=1); print('numba' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "False"
    counts, _ = read_voxels(tmp_path / "v.h5")
    np.testing.assert_array_equal(counts, histogram_counts(pos.astype(np.float32), 32.0, 16,
                                                           engine="numba"))


def test_wrap_edge_cases():
    L = 64.0
    x = np.array([0.0, L, 2 * L, -L, -1e-9, -1e-30, L - 1e-5, 65.0, -1.0], np.float32)
    w = wrap_positions(x, L)
    assert w.dtype == np.float32
    assert np.all((w >= 0) & (w < np.float32(L)))
    assert np.all(w[:4] == 0)                         # exactly L (and multiples) -> 0, bin 0
    assert w[4] == w[5] == np.nextafter(np.float32(L), np.float32(0))  # just below 0 -> last bin
    assert np.float32(-1e-9) % np.float32(L) == np.float32(L)  # the trap wrap_positions avoids
    np.testing.assert_allclose(w[7:], [1.0, L - 1.0])
    c = histogram_counts(np.array([[L, -1e-9, 0.0]], np.float32), L, 8)
    assert c[0, 7, 0] == 1 and c.sum() == 1
    with pytest.raises(ValueError, match="non-finite"):
        wrap_positions(np.array([np.nan], np.float32), L)


def test_subvolume_round_trip_and_order():
    rng = np.random.default_rng(3)
    g = rng.integers(0, 1000, (32, 32, 32)).astype(np.uint16)
    cubes = split_subvolumes(g, 8)
    assert cubes.shape == (64, 8, 8, 8)
    sl = subvolume_slices(32, 8)
    for k in (0, 1, 5, 17, 63):
        np.testing.assert_array_equal(cubes[k], g[sl[k]])
    np.testing.assert_array_equal(sl[1][2], slice(8, 16))   # k = (i*n + j)*n + l: l fastest
    np.testing.assert_array_equal(assemble_subvolumes(cubes), g)
    with pytest.raises(ValueError, match="divide"):
        split_subvolumes(g, 12)


def test_voxelize_snapshot_file(tmp_path):
    rng = np.random.default_rng(4)
    pos = rng.uniform(0, 64, (16 ** 3, 3)).astype(np.float32)
    snap = write_snapshot(tmp_path / "snapshot_z0.00.hdf5", pos, sim="00003", box=64.0,
                          cosmo=COSMO)
    out = tmp_path / "voxels" / "00003" / "z0.00.h5"
    voxelize_snapshot(snap, out, sim="00003", n_voxels=16, subvolume=8)
    counts, attrs = read_voxels(out)
    np.testing.assert_array_equal(counts, reference(pos, 64.0, 16))
    assert counts.dtype == np.uint8 and attrs["n_particles_total"] == 16 ** 3
    assert attrs["sim"] == "00003" and attrs["Omega_m"] == pytest.approx(0.3)
    sub, _ = read_subvolume(out, 7)
    np.testing.assert_array_equal(sub, counts[8:, 8:, 8:])
    assert not [p for p in out.parent.iterdir() if p.name != out.name]  # no temp files left


def test_snapshot_errors_name_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.hdf5"):
        read_snapshot(tmp_path / "nope.hdf5")
    foreign = tmp_path / "foreign.hdf5"
    with h5py.File(foreign, "w") as f:
        f["coords"] = np.zeros((8, 3), np.float32)
    with pytest.raises(ValueError, match=r"foreign\.hdf5: missing dataset /positions"):
        read_snapshot(foreign)
    good = write_snapshot(tmp_path / "good.hdf5", np.zeros((4096, 3), np.float32), sim="00001",
                          box=64.0, cosmo=COSMO)
    data = good.read_bytes()
    trunc = tmp_path / "trunc.hdf5"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"trunc\.hdf5"):
        read_snapshot(trunc)
