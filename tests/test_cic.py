"""CIC paint/read: mass conservation, adjointness, determinism (spec checks 3 and 5)."""
import numba
import numpy as np
import pytest

from pycola_wrapper import cic

BOX = 64.0


def _positions(n, seed=0, spread=1.0):
    rng = np.random.default_rng(seed)
    # include points outside [0, box) and exactly on the edge: both wrap periodically
    pos = rng.uniform(-0.5 * BOX * spread, 1.5 * BOX * spread, size=(n, 3)).astype(np.float32)
    pos[0] = (0.0, BOX, np.nextafter(np.float32(BOX), np.float32(0)))
    return pos


@pytest.mark.parametrize("m", [3, 8, 17, 32])
def test_paint_conserves_mass(m):
    pos = _positions(20000)
    mesh = cic.paint(pos, m, BOX)
    assert mesh.dtype == np.float32 and mesh.shape == (m, m, m)
    assert mesh.min() >= 0.0
    assert mesh.sum(dtype=np.float64) == pytest.approx(pos.shape[0], rel=1e-6)


def test_single_particle_on_mesh_point_and_between():
    pos = np.array([[2 * BOX / 16, 3 * BOX / 16, 5 * BOX / 16]], dtype=np.float32)
    mesh = cic.paint(pos, 16, BOX)
    assert mesh[2, 3, 5] == 1.0 and mesh.sum() == 1.0
    pos = np.array([[15.5 * BOX / 16, 0.0, 0.0]], dtype=np.float32)  # half-way, wraps to plane 0
    mesh = cic.paint(pos, 16, BOX)
    assert mesh[15, 0, 0] == pytest.approx(0.5) and mesh[0, 0, 0] == pytest.approx(0.5)


def test_paint_read_adjoint():
    m = 24
    pos = _positions(5000, seed=1)
    field = np.random.default_rng(2).standard_normal((m, m, m)).astype(np.float32)
    lhs = cic.read(field, pos, BOX).astype(np.float64).sum()
    rhs = (field.astype(np.float64) * cic.paint(pos, m, BOX)).sum()
    assert lhs == pytest.approx(rhs, rel=1e-5, abs=1e-3)


def test_read_uniform_and_linear():
    m = 16
    pos = _positions(1000, seed=3)
    assert np.allclose(cic.read(np.full((m, m, m), 2.5, np.float32), pos, BOX), 2.5)
    # a field linear in x between mesh points is read exactly (away from the periodic seam)
    x = np.arange(m, dtype=np.float32)[:, None, None] * np.ones((1, m, m), np.float32)
    inside = np.random.default_rng(4).uniform(1.0, (m - 2) * BOX / m, (500, 3)).astype(np.float32)
    assert np.allclose(cic.read(x, inside, BOX), inside[:, 0] * m / BOX, atol=1e-4)


def test_paint_bitwise_independent_of_threads():
    pos = _positions(200000, seed=5, spread=0.2)  # clustered: many particles per cell
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = cic.paint(pos, 32, BOX)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = cic.paint(pos, 32, BOX)
        again = cic.paint(pos, 32, BOX)
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(one, two) and np.array_equal(two, again)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="float32"):
        cic.paint(np.zeros((4, 3)), 8, BOX)
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        cic.read(np.zeros((8, 8, 8), np.float32), np.zeros((4, 2), np.float32), BOX)
