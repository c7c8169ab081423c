"""PM force against the analytic -1/k^2 solution (spec check 4)."""
import numpy as np
import pytest

from pycola_wrapper import cic, cola, pm

BOX = 100.0


@pytest.mark.parametrize("mode", [(1, 0, 0), (2, 3, 0), (1, 2, 3)])
def test_plane_wave_potential_and_gradient(mode):
    m = 32
    kvec = 2 * np.pi / BOX * np.array(mode, dtype=np.float64)
    x = np.arange(m) * BOX / m
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    phase = kvec[0] * X + kvec[1] * Y + kvec[2] * Z
    delta = (0.1 * np.cos(phase)).astype(np.float32)
    phi = pm.potential(delta, BOX, workers=2)
    k2 = float(kvec @ kvec)
    assert np.allclose(phi, -0.1 / k2 * np.cos(phase), atol=1e-5 * 0.1 / k2)
    # gradient at random positions against d phi / dx_i = 0.1 k_i / k^2 sin(k.x): the cubic
    # derivative along the axis and the linear interpolation across it err by O((k h)^2)
    pos = np.random.default_rng(0).uniform(0, BOX, (4000, 3)).astype(np.float32)
    ph = pos.astype(np.float64) @ kvec
    expect = 0.1 / k2 * kvec[None, :] * np.sin(ph)[:, None]
    kh = np.sqrt(k2) * BOX / m
    for scheme in ("central", "pycola"):
        got = pm.gradient_at(phi, pos, BOX, scheme)
        assert np.abs(got - expect).max() < 0.5 * kh**2 * 0.1 / np.sqrt(k2), scheme


def test_particle_plane_wave_force_cancels_zeldovich():
    """Particles displaced by Psi = eps sin(k q) x: grad phi = -Psi (linear theory, -1/k^2)."""
    n, m = 32, 32
    q = cola.lagrangian_positions(n, BOX).astype(np.float64)
    k = 2 * np.pi / BOX
    eps = 0.02 * BOX / n
    psi = eps * np.sin(k * q[:, 0])
    pos = q.copy()
    pos[:, 0] += psi
    force = cola.pm_force(np.mod(pos, BOX).astype(np.float32), n**3, m, BOX)
    # CIC paint + read and the 4-point gradient suppress the mode by (1 - O((kh)^2)): < 1 %
    assert np.allclose(force[:, 0], -psi, atol=0.01 * eps)
    assert np.abs(force[:, 1:]).max() < 1e-4 * eps


def test_pair_force_follows_inverse_square():
    """One unit mass in a 64^3 mesh: the mean radial grad phi at distance r is 1 / (4 pi r^2).

    Averaged over directions (and so over sub-cell offsets): the mesh force is anisotropic at a
    few cells (pyCOLA's one-sided cubic derivative reacts to the potential's Nyquist ringing).
    """
    m, box = 64, 64.0  # h = 1
    src = np.array([[32.0, 32.0, 32.0]], dtype=np.float32)
    mesh = cic.paint(src, m, box)
    phi = pm.potential(mesh - mesh.mean(), box)
    rng = np.random.default_rng(1)
    u = rng.standard_normal((2000, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    errors = []
    for scheme in ("central", "pycola"):
        for r in (4.0, 6.0, 8.0, 10.0):
            pos = (src + r * u).astype(np.float32)
            radial = (pm.gradient_at(phi, pos, box, scheme) * u).sum(axis=1).mean()
            errors.append(abs(radial * 4 * np.pi * r**2 - 1.0))
    # periodic images and the uniform background nearly cancel in a cube (< 1 % at r <= 10)
    assert max(errors) < 0.03, errors
