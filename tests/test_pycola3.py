"""Spec check 6: parity with the original code (pycola3 0.0.7 in its own venv, numpy < 2).

The venv is built once and cached (pycola_wrapper.pycola3_engine.DEFAULT_VENV, stamped with
its pins); the test is skipped, saying why, where it cannot be built (no index, no compiler).
"""
import numpy as np
import pytest

from _cola_ics import ics
from pycola_wrapper import cola, measure, pycola3_engine


@pytest.fixture(scope="module")
def pycola3_python():
    try:
        return pycola3_engine.ensure_venv()
    except (RuntimeError, OSError) as err:
        pytest.skip(f"pycola3 {pycola3_engine.PYCOLA3_VERSION} venv cannot be built here: {err}")


@pytest.fixture(scope="module")
def runs(pycola3_python, tmp_path_factory):
    n, box = 64, 128.0
    psi1, psi2, cosmo = ics(n, box, seed=11)
    theirs, info = pycola3_engine.run_pycola3(psi1, psi2, cosmo.Omega_m, box, a_start=0.1, n_steps=10,
                                              python=pycola3_python, workdir=tmp_path_factory.mktemp("p3"))
    return psi1, psi2, cosmo, n, box, theirs[1.0], info


def test_parity_with_pycola3(runs):
    """Same ICs, steps, mesh, lattice and LPT frame: the two codes agree (check 6)."""
    psi1, psi2, cosmo, n, box, theirs, info = runs
    ours = cola.evolve(psi1, psi2, cosmo, box, a_start=0.1, n_steps=10, frame="pycola", q_offset=0.0,
                       gradient="pycola")[1.0]
    ours = np.mod(ours + np.float32(0.5 * box / n), np.float32(box))  # to the cell-centre lattice
    assert theirs.shape == ours.shape and theirs.dtype == np.float32
    assert theirs.min() >= 0 and theirs.max() < box
    assert 0.995 < info["d1_at_1"] < 1.0  # its growth is normalised at a = 1.002
    k, r, p_ours, p_theirs = measure.cross_correlation(ours, theirs, box, n)
    sel = k < 0.5
    assert np.abs(p_ours[sel] / p_theirs[sel] - 1).max() < 0.005
    assert (1 - r[sel]).max() < 1e-3
    # particle by particle: same Lagrangian order, residual differences well below the spacing
    d = (ours.astype(np.float64) - theirs + box / 2) % box - box / 2
    assert np.sqrt((d**2).sum(axis=1).mean()) < 0.1 * box / n


def test_default_engine_close_to_pycola3(runs):
    """Our default (exact 2LPT frame, cell-centre lattice) vs pycola3 (smoothed frame): same
    large scales; pycola3 has more small-scale power (its frame leaves more to the PM)."""
    psi1, psi2, cosmo, n, box, theirs, _ = runs
    ours = cola.evolve(psi1, psi2, cosmo, box, a_start=0.1, n_steps=10)[1.0]
    k, r, p_ours, p_theirs = measure.cross_correlation(ours, theirs, box, n)
    assert np.abs(p_ours[k < 0.12] / p_theirs[k < 0.12] - 1).max() < 0.005
    assert np.abs(p_ours[k < 0.5] / p_theirs[k < 0.5] - 1).max() < 0.06  # measured 4.5 % at k = 0.4
    assert (1 - r[k < 0.3]).max() < 2e-3
