"""COLA engine: spec checks 1-3 and 5 (tiny amplitude, step convergence, momentum, determinism)."""
import numba
import numpy as np
import pytest

from _cola_ics import ics
from pycola_wrapper import cola, measure


def _run(psi1, psi2, cosmo, box, **kw):
    kw.setdefault("a_start", 0.1)
    kw.setdefault("n_steps", 10)
    return cola.evolve(psi1, psi2, cosmo, box, **kw)


@pytest.mark.parametrize("n_steps", [3, 10])
def test_tiny_amplitude_follows_2lpt(n_steps):
    n, box = 32, 64.0
    psi1, psi2, cosmo = ics(n, box, sigma_8=1e-3)
    x = _run(psi1, psi2, cosmo, box, n_steps=n_steps)[1.0]
    x_lpt = cola.lpt_positions(psi1, psi2, cosmo, box, 1.0)
    d = (x.astype(np.float64) - x_lpt + box / 2) % box - box / 2
    spacing = box / n
    disp = np.sqrt((psi1.astype(np.float64) ** 2).sum(axis=0))  # |Psi1| at a = 1 [Mpc/h]
    # what is left is the PM force's small-scale suppression (CIC, finite differences) acting
    # on the 2LPT frame: ~1e-3 of the spacing, 12-18 % of the displacement itself
    assert np.abs(d).max() < 5e-3 * spacing
    assert np.sqrt((d**2).sum(axis=1).mean()) < 0.25 * np.sqrt((disp**2).mean())


def test_snapshots_wrapped_float32_and_ordered():
    n, box = 32, 64.0
    psi1, psi2, cosmo = ics(n, box)
    out = _run(psi1, psi2, cosmo, box, a_out=[1.0, 0.1, 0.5, 0.55])
    assert sorted(out) == [0.1, 0.5, 0.55, 1.0]
    for x in out.values():
        assert x.dtype == np.float32 and x.shape == (n**3, 3)
        assert x.min() >= 0.0 and x.max() < box
    assert np.array_equal(out[0.1], cola.lpt_positions(psi1, psi2, cosmo, box, 0.1))
    # extra outputs never change the run: same final positions bit for bit
    assert np.array_equal(out[1.0], _run(psi1, psi2, cosmo, box)[1.0])
    # a = 0.5 lies inside step 5 (0.46 -> 0.55): between the neighbouring snapshots
    k, p05, _ = measure.power_spectrum(out[0.5], box, n)
    _, p055, _ = measure.power_spectrum(out[0.55], box, n)
    assert np.all(p05[:5] < p055[:5])


def test_step_convergence_10_vs_40():
    # 4 Mpc/h spacing; at 1-2 Mpc/h spacing nLPT = -2.5 gives 0.5-0.7 % at k = 0.2-0.3
    # (see docs/cola.md, step convergence)
    n, box = 64, 256.0
    psi1, psi2, cosmo = ics(n, box)
    x10 = _run(psi1, psi2, cosmo, box, n_steps=10)[1.0]
    x40 = _run(psi1, psi2, cosmo, box, n_steps=40)[1.0]
    k, p10, _ = measure.power_spectrum(x10, box, n)
    _, p40, _ = measure.power_spectrum(x40, box, n)
    sel = k < 0.3
    assert sel.sum() >= 5
    assert np.abs(p10[sel] / p40[sel] - 1).max() < 0.005


def _cic_reference(pos: np.ndarray, m: int, box: float) -> np.ndarray:
    """Plain numpy CIC (float64, mesh point i at x = i box / m, periodic): the density painted."""
    u = pos.astype(np.float64) * (m / box)
    lo = np.floor(u)
    w_hi = u - lo
    lo = lo.astype(np.int64) % m
    mesh = np.zeros((m, m, m))
    for corner in np.ndindex(2, 2, 2):
        idx = tuple((lo[:, d] + corner[d]) % m for d in range(3))
        weight = np.prod([w_hi[:, d] if corner[d] else 1 - w_hi[:, d] for d in range(3)], axis=0)
        np.add.at(mesh, idx, weight)
    return mesh


def test_momentum_conserved_and_mass_painted(monkeypatch):
    """Every step paints the CIC density of the positions it has reached (all N^3 particles'
    mass, on the gridscale x N mesh) and turns it into a contrast of mean 0; the mean
    momentum stays 0 (up to round-off) all along."""
    n, box, gridscale, n_steps = 32, 64.0, 2, 10
    m = gridscale * n
    psi1, psi2, cosmo = ics(n, box)
    painted = []  # per step: (mesh as painted, the contrast made of it, its factor)
    to_delta = cola._to_delta

    def recording_to_delta(mesh, factor):
        before = mesh.copy()
        to_delta(mesh, factor)
        painted.append((before, mesh.copy(), float(factor)))

    monkeypatch.setattr(cola, "_to_delta", recording_to_delta)
    infos = []
    a_steps = cola.step_scale_factors(0.1, n_steps)
    # snapshots at every step's start: the positions that step paints (extra outputs never
    # change the run, see test_snapshots_wrapped_float32_and_ordered)
    snaps = _run(psi1, psi2, cosmo, box, n_steps=n_steps, gridscale=gridscale, progress=infos.append,
                 a_out=a_steps)
    assert len(painted) == n_steps
    for k, (mesh, delta, factor) in enumerate(painted):
        assert mesh.shape == (m, m, m) and mesh.min() >= 0
        assert mesh.sum(dtype=np.float64) == pytest.approx(n**3, rel=1e-5), k  # all the mass
        expected = _cic_reference(snaps[float(a_steps[k])], m, box)
        np.testing.assert_allclose(mesh, expected, rtol=1e-5, atol=1e-5 * expected.max(), err_msg=f"step {k}")
        assert factor == pytest.approx(m**3 / n**3)  # mean density 1 per cell -> contrast
        np.testing.assert_allclose(delta, mesh * np.float32(factor) - 1, atol=1e-6)
        assert abs(delta.mean(dtype=np.float64)) < 1e-5 and delta.min() >= -1.0 - 1e-6, k
    # the field grows: the contrast's rms rises from step to step
    rms = [d.std(dtype=np.float64) for _, d, _ in painted]
    assert all(b > a for a, b in zip(rms, rms[1:])), rms
    assert [i.step for i in infos] == list(range(1, n_steps + 1))
    assert infos[-1].a == pytest.approx(1.0)
    for info in infos:
        assert info.rms_velocity > 0
        assert np.abs(info.mean_velocity).max() < 1e-5 * info.rms_velocity
        assert set(info.times) >= {"deposit", "fft", "gradient_interpolation", "drift"}


def test_bitwise_deterministic_across_threads():
    n, box = 32, 64.0
    psi1, psi2, cosmo = ics(n, box)
    old = numba.get_num_threads()
    try:
        a = _run(psi1, psi2, cosmo, box, threads=1, a_out=[0.5, 1.0])
        b = _run(psi1, psi2, cosmo, box, threads=min(2, numba.config.NUMBA_NUM_THREADS), a_out=[0.5, 1.0])
        c = _run(psi1, psi2, cosmo, box, threads=min(2, numba.config.NUMBA_NUM_THREADS), a_out=[0.5, 1.0])
    finally:
        numba.set_num_threads(old)
    for key in (0.5, 1.0):
        assert np.array_equal(a[key], b[key]) and np.array_equal(b[key], c[key])


def test_on_output_streams_snapshots():
    n, box = 32, 64.0
    psi1, psi2, cosmo = ics(n, box)
    got = {}
    res = _run(psi1, psi2, cosmo, box, a_out=[0.5, 1.0], on_output=lambda a, x: got.__setitem__(a, x.copy()))
    assert res == {} and sorted(got) == [0.5, 1.0]
    ref = _run(psi1, psi2, cosmo, box, a_out=[0.5, 1.0])
    assert all(np.array_equal(got[a], ref[a]) for a in got)


def test_memory_check_fails_early_with_a_clear_message():
    est = cola.memory_estimate(512, 1)
    assert 8e9 < est["total"] < 10e9
    with pytest.raises(MemoryError, match=r"1536\^3 mesh \(gridscale 3\) needs"):
        cola.check_memory(512, 3, available=24 * 2**30)
    assert cola.check_memory(64, 1, available=24 * 2**30)["total"] < 2**30


def test_bad_inputs():
    psi1, psi2, cosmo = ics(32, 64.0)
    with pytest.raises(ValueError, match="outside"):
        _run(psi1, psi2, cosmo, 64.0, a_out=[0.05])
    with pytest.raises(ValueError, match="float32"):
        _run(psi1.astype(np.float64), psi2, cosmo, 64.0)
    with pytest.raises(ValueError, match="psi2 shape"):
        _run(psi1, psi2[:, :16], cosmo, 64.0)


@numba.njit
def _init_positions_modulo(psi1, psi2, d1, d2, box, n, out, q0):
    """_init_positions as it was: every coordinate through cola._wrap (a float modulo)."""
    cell = box / n
    for i in range(n):
        for j in range(n):
            for k in range(n):
                p = (i * n + j) * n + k
                out[p, 0] = cola._wrap((i + q0) * cell + d1 * psi1[0, p] + d2 * psi2[0, p], box)
                out[p, 1] = cola._wrap((j + q0) * cell + d1 * psi1[1, p] + d2 * psi2[1, p], box)
                out[p, 2] = cola._wrap((k + q0) * cell + d1 * psi1[2, p] + d2 * psi2[2, p], box)


def test_init_positions_wrap_is_the_float_modulo_bit_for_bit():
    """_init_positions wraps without a float modulo when a coordinate is within one box of
    [0, box) (_wrap_lpt): the same float32 bits as the modulo, on random displacements of up to
    several boxes and on the edges (0, +-box, 2 box, just inside, NaN, inf)."""
    n, box = 16, 16.0
    rng = np.random.default_rng(5)
    psi1 = (rng.standard_normal((3, n**3)) * rng.choice([0.5, 4.0, 40.0], (3, n**3))).astype(np.float32)
    psi2 = (rng.standard_normal((3, n**3)) * 2.0).astype(np.float32)
    b32 = np.float32(box)
    edges = [0.0, -0.0, box, -box, 2 * box, -2 * box, 3 * box, np.nextafter(b32, 0), np.nextafter(b32, 99),
             -np.nextafter(b32, 0), np.nextafter(np.float32(0), 1), -np.nextafter(np.float32(0), 1),
             np.nextafter(np.float32(2 * box), 0), 1e30, -1e30, np.nan, np.inf, -np.inf]
    psi1[:, :len(edges)] = np.array(edges, dtype=np.float32)   # particle (0, 0, k): x = psi1 at q0 0
    for d1, d2, q0 in ((1.0, 0.0, 0.0), (1.0, 0.0, 0.5), (0.1, 0.004, 0.5), (1.0 + 1e-12, 0.5, 0.0),
                       (3.0, 2.0, 0.5)):
        new, old = np.empty((n**3, 3), np.float32), np.empty((n**3, 3), np.float32)
        cola._init_positions(psi1, psi2, d1, d2, box, n, new, q0)
        _init_positions_modulo(psi1, psi2, d1, d2, box, n, old, q0)
        np.testing.assert_array_equal(new.view(np.uint32), old.view(np.uint32))
