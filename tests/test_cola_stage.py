"""The COLA stage's I/O: snapshot contract, memory check before reading, atomic writes, rule."""
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from _cola_ics import ics
from pycola_wrapper import cola, simulate

ROOT = Path(__file__).resolve().parents[1]
CFG = {"engine": "builtin", "a_start": 0.1, "n_steps": 5, "gridscale": 1, "threads": 2}
CONTRACT = {"sim", "Omega_m", "Omega_L", "sigma_8", "n_s", "H0", "box", "n_particles", "z", "a",
            "n_steps", "mesh", "engine", "version"}


def _row(n, box, cosmo):
    return {"sim": "00003", "seed": 5, "split": "train", "Omega_m": cosmo.Omega_m,
            "Omega_b": cosmo.Omega_b, "sigma_8": cosmo.sigma_8, "n_s": cosmo.n_s, "H0": cosmo.H0,
            "box": box, "n_particles": n}


def test_run_writes_every_redshift_with_the_contract(tmp_path):
    n, box = 32, 64.0
    psi1, psi2, cosmo = ics(n, box)
    outputs = simulate.outputs_for([0.0, 0.5, 1.5], tmp_path / "sims" / "00003")
    lines = []
    simulate.run("ics.hdf5", _row(n, box, cosmo), CFG, outputs, log=lines.append,
                 read_lpt=lambda p: (psi1, psi2, {"box": box, "N": n}))
    ref = cola.evolve(psi1, psi2, cosmo, box, a_start=0.1, n_steps=5, a_out=[1.0, 1 / 1.5, 1 / 2.5])
    for z, path in outputs.items():
        assert path.name == f"snapshot_z{z:.2f}.hdf5"
        pos, attrs = simulate.read_snapshot(path)
        assert CONTRACT <= set(attrs)
        assert pos.dtype == np.float32 and pos.shape == (n**3, 3)
        assert 0 <= pos.min() and pos.max() < box
        assert attrs["z"] == z and attrs["a"] == pytest.approx(1 / (1 + z))
        assert attrs["mesh"] == n and attrs["n_steps"] == 5 and attrs["engine"] == "builtin"
        assert np.array_equal(pos, ref[min(ref, key=lambda a: abs(a - 1 / (1 + z)))])
    assert sum(line.startswith("step ") for line in lines) == 5
    assert "RSS" in lines[2] and "a = 0.2800" in lines[2]
    assert not list((tmp_path / "sims" / "00003").glob(".tmp-*"))


def test_memory_error_before_reading(tmp_path):
    def reader(path):
        raise AssertionError("the ICs must not be read when the run cannot fit")

    row = {"sim": "00000", "Omega_m": 0.3, "sigma_8": 0.8, "n_s": 0.96, "H0": 70.0,
           "box": 1000.0, "n_particles": 2048}
    with pytest.raises(MemoryError, match=r"6144\^3 mesh \(gridscale 3\) needs .* GiB"):
        simulate.run("x.hdf5", row, {**CFG, "gridscale": 3}, simulate.outputs_for([0.0], tmp_path),
                     read_lpt=reader)


def test_mismatched_ics_are_rejected(tmp_path):
    psi1, psi2, cosmo = ics(32, 64.0)
    with pytest.raises(ValueError, match="N = 32, box = 64.0 but the cosmologies row"):
        simulate.run("ics.hdf5", _row(32, 128.0, cosmo), CFG, simulate.outputs_for([0.0], tmp_path),
                     read_lpt=lambda p: (psi1, psi2, {"box": 64.0, "N": 32}))


def test_killed_write_leaves_no_snapshot(tmp_path):
    """SIGKILL in the middle of writing: the snapshot path does not exist afterwards."""
    target = tmp_path / "snapshot_z0.00.hdf5"
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        import h5py, numpy as np
        from pycola_wrapper import simulate
        real = h5py.Group.create_dataset
        def dying(self, *a, **k):
            ds = real(self, *a, **k)
            self.file.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        h5py.Group.create_dataset = dying
        simulate.write_snapshot({str(target)!r}, np.zeros((1000, 3), np.float32), {{"z": 0.0}})
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert res.returncode == -9, res.stderr
    assert not target.exists()
    assert [p.name.startswith(".tmp-") for p in tmp_path.iterdir()] == [True]
    assert not list(tmp_path.glob("snapshot_z*.hdf5"))  # what the next stage looks for


def test_snakemake_plans_one_cola_job_per_simulation(tmp_path):
    res_dir = tmp_path / "results"
    for sim in ("00000", "00001", "00002", "00003"):
        (res_dir / "sims" / sim).mkdir(parents=True)
        (res_dir / "sims" / sim / "ics.hdf5").touch()
        (res_dir / "power").mkdir(exist_ok=True)
        (res_dir / "power" / f"{sim}.h5").touch()
    (res_dir / "cosmologies.csv").touch()
    extra = tmp_path / "extra.yaml"
    extra.write_text(f"results: {res_dir}\ncola: {{redshifts: [0.0, 0.5]}}\n")
    snakemake = Path(sys.executable).parent / "snakemake"
    res = subprocess.run([str(snakemake), "-n", "sims", "--cores", "2", "--configfile",
                          str(ROOT / "tests" / "config" / "tiny.yaml"), str(extra)],
                         cwd=ROOT, capture_output=True, text=True)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "snapshot_z0.50.hdf5" in out and "snapshot_z0.00.hdf5" in out
    counts = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert counts.get("cola") == 4
    assert "group: simulation" in out or "mem_mb=" in out
