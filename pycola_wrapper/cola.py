"""COLA time stepping (Tassev, Zaldarriaga & Eisenstein 2013, arXiv:1301.0322; pyCOLA).

Particles move as x = q + D1(a) Psi1(q) + D2(a) Psi2(q) + x_res; only x_res is integrated, in
the frame moving with the 2LPT trajectory, by a kick-drift-kick leapfrog in steps linear in a.
The "velocity" v is the residual momentum Q(a) dx_res/da with Q(a) = a^3 E(a), zero at a_start.

Equations (pyCOLA's choices, checked against the paper's appendix A, nLPT = n = -2.5):

- T[x] = d/da (Q dx/da) = -1.5 Omega_m a / Q * grad phi, lap phi = delta (mesh density
  contrast), because d/dt (a^2 dx/dt) = -grad Phi with lap Phi = 1.5 H0^2 Omega_m delta / a.
- The 2LPT frame's own T: T[D1] = 1.5 Omega_m a D1 / Q (growth ODE) and, with the 2LPT
  equation T[D2'] = 1.5 Omega_m a / Q (D2' - D1^2), D2' ~ -3/7 D1^2 Omega_m(a)^(-1/143),
  T[D2] Psi2 = 1.5 Omega_m a / Q * D1^2 (1 + 7/3 Omega_m(a)^(1/143)) Psi2 (pyCOLA's factor).
- Kick from a_i to a_f with the force at a_c, assuming v grows as a^n across the step (A.15):
  v += -1.5 Omega_m a_c (a_f^n - a_i^n) / (Q(a_c) n a_c^(n-1))
       * [grad phi(x) + D1(a_c) Psi1 + D1(a_c)^2 (1 + 7/3 Omega_m(a_c)^(1/143)) Psi2]
- Drift from a_i to a_f with v valid at a_c:
  x += v a_c^(-n) int_{a_i}^{a_f} a^n / Q(a) da + (D1(a_f) - D1(a_i)) Psi1 + (D2(a_f) - D2(a_i)) Psi2.

Step schedule (pyCOLA's): a_k = a_start + k da. Step k computes the force at a_k, kicks from
a_k - da/2 (a_start for k = 0) to a_k + da/2, and drifts a_k -> a_{k+1} with v at a_k + da/2.
Only positions are returned, so the closing half-kick to a_final (velocities only) is skipped:
n_steps force evaluations. A snapshot at a in (a_k, a_{k+1}] is a drift from a_k to a with the
same v (no extra force evaluation); a = a_{k+1} is the step's own drift, bit for bit.

Arrays are float32; particle (i, j, k) starts from q = (i + 1/2, j + 1/2, k + 1/2) box / N.
Units: box, positions, Psi in [Mpc/h]; a the scale factor.
"""
from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numba as nb
import numpy as np
from scipy import integrate

from . import cic, pm
from .cosmology import Cosmology, E, Omega_m_a, growth_D1, growth_D2, growth_f

ENGINE_VERSION = "1.0"  # written into snapshot attributes (bump when results change)
N_LPT = -2.5  # pyCOLA's default temporal-COLA index (arXiv:1301.0322, section A.3)
OVERHEAD_BYTES = 600 * 2**20  # interpreter, numba, scipy, buffers (measured ~0.4 GB)


# ---------------------------------------------------------------------------------------------
# Time-stepping factors (pure functions of a and the cosmology)
# ---------------------------------------------------------------------------------------------

def Q(a, cosmo: Cosmology):
    """Q(a) = a^3 E(a) (dimensionless)."""
    a = np.asarray(a, dtype=np.float64)
    return a**3 * E(a, cosmo)


def kick_factor(a_i: float, a_f: float, a_c: float, cosmo: Cosmology, n: float = N_LPT) -> float:
    """beta = -1.5 Omega_m a_c (a_f^n - a_i^n) / (Q(a_c) n a_c^(n-1)): v += beta * force terms."""
    coef = (a_f**n - a_i**n) / (float(Q(a_c, cosmo)) * n * a_c ** (n - 1.0))
    return -1.5 * cosmo.Omega_m * a_c * coef


def drift_factor(a_i: float, a_f: float, a_c: float, cosmo: Cosmology, n: float = N_LPT) -> float:
    """alpha = a_c^(-n) int_{a_i}^{a_f} a^n / Q(a) da: x += v * alpha."""
    val = integrate.quad(lambda a: a**n / float(Q(a, cosmo)), a_i, a_f, epsabs=0.0, epsrel=1e-12)[0]
    return a_c ** (-n) * val


def psi2_force_factor(a: float, cosmo: Cosmology) -> float:
    """D1(a)^2 (1 + 7/3 Omega_m(a)^(1/143)): the Psi2 term of the COLA force (pyCOLA)."""
    d1 = float(growth_D1(a, cosmo))
    return d1 * d1 * (1.0 + 7.0 / 3.0 * float(Omega_m_a(a, cosmo)) ** (1.0 / 143.0))


# ---------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------

def memory_estimate(n: int, gridscale: int, n_extra_outputs: int = 0) -> dict[str, int]:
    """Peak memory of ``evolve`` [bytes], by part.

    particles: positions, velocities, Psi1, Psi2 (12 float32 per particle) and the CIC sort index;
    mesh: density + its complex FFT (forward), then complex FFT + potential (inverse);
    outputs: one (N^3, 3) float32 array per snapshot kept in memory besides the live positions.
    """
    n3 = int(n) ** 3
    m = int(gridscale) * int(n)
    itemsize_index = 4 if n3 < 2**31 - 1 else 8
    parts = {
        "particles": n3 * 12 * 4,
        "sort_index": n3 * itemsize_index,
        "mesh": m**3 * 4 + m * m * (m // 2 + 1) * 8,
        "outputs": n3 * 3 * 4 * int(n_extra_outputs),
        "overhead": OVERHEAD_BYTES,
    }
    parts["total"] = sum(parts.values())
    return parts


def available_memory() -> int:
    """Memory this process may still use [bytes]: min of MemAvailable and the cgroup limit."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as fh:
                txt = fh.read().strip()
            if txt.isdigit() and int(txt) < 2**60:
                used = 0
                cur = path.replace("memory.max", "memory.current").replace("limit_in_bytes", "usage_in_bytes")
                if os.path.exists(cur):
                    used = int(open(cur).read().strip())
                limit = int(txt) - used
                avail = limit if avail is None else min(avail, limit)
        except OSError:
            pass
    return avail if avail is not None else 2**62


def check_memory(n: int, gridscale: int, n_extra_outputs: int = 0,
                 available: int | None = None) -> dict[str, int]:
    """Raise MemoryError, before anything is allocated, when the run cannot fit.

    Returns the estimate (``memory_estimate``) when it fits.
    """
    est = memory_estimate(n, gridscale, n_extra_outputs)
    avail = available_memory() if available is None else int(available)
    if est["total"] > avail:
        gb = 2.0**30
        detail = ", ".join(f"{k} {v / gb:.2f}" for k, v in est.items() if k != "total")
        raise MemoryError(
            f"COLA run of {n}^3 particles on a {gridscale * n}^3 mesh (gridscale {gridscale}) needs "
            f"~{est['total'] / gb:.1f} GiB ({detail} GiB) but only {avail / gb:.1f} GiB is available: "
            f"lower cola.gridscale or simulation.n_particles, or run on a bigger node")
    return est


def rss_bytes() -> tuple[int, int]:
    """(current, peak) resident set size of this process [bytes]."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        with open("/proc/self/statm") as fh:
            cur = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        cur = peak
    return cur, peak


# ---------------------------------------------------------------------------------------------
# Particle kernels (numba, parallel over particles: deterministic)
# ---------------------------------------------------------------------------------------------

@nb.njit(inline="always")
def _wrap(x, box):
    r = np.float32(x % box)
    if r >= box:  # float32 rounding of box - tiny
        r = np.float32(0.0)
    return r


@nb.njit(inline="always")
def _wrap_lpt(x, box):
    """``_wrap(x, box)`` of a float64 x, bit for bit, without its float modulo when x is within
    one box of [0, box): x - box is then exact (Sterbenz) as fmod is, and x + box is the sum
    Python's modulo makes for a negative x (5x faster _init_positions, docs/cola.md)."""
    if x >= box:
        x = x - box if x < 2.0 * box else x % box
    elif x < 0.0:
        x = x + box if x >= -box else x % box
    r = np.float32(x + 0.0)  # + 0.0: a -0.0 becomes +0.0, as x % box makes it
    if r >= box:  # float32 rounding of box - tiny
        r = np.float32(0.0)
    return r


@nb.njit(parallel=True, cache=True)
def _init_positions(psi1, psi2, d1, d2, box, n, out, q0=0.5):
    cell = box / n
    for i in nb.prange(n):
        for j in range(n):
            for k in range(n):
                p = (i * n + j) * n + k
                out[p, 0] = _wrap_lpt((i + q0) * cell + d1 * psi1[0, p] + d2 * psi2[0, p], box)
                out[p, 1] = _wrap_lpt((j + q0) * cell + d1 * psi1[1, p] + d2 * psi2[1, p], box)
                out[p, 2] = _wrap_lpt((k + q0) * cell + d1 * psi1[2, p] + d2 * psi2[2, p], box)


@nb.njit(parallel=True, cache=True)
def _box_smooth(arr, out):
    """pyCOLA's 3x3x3 boxcar mean over the interior points (faces copied unchanged)."""
    n = arr.shape[0]
    out[:] = arr
    for i in nb.prange(1, n - 1):
        for j in range(1, n - 1):
            for k in range(1, n - 1):
                s = np.float32(0.0)
                for a in range(-1, 2):
                    for b in range(-1, 2):
                        for c in range(-1, 2):
                            s += arr[i + a, j + b, k + c]
                out[i, j, k] = s / np.float32(27.0)


def pycola_frame(psi: np.ndarray) -> np.ndarray:
    """pyCOLA's LPT frame for a covering box: Psi boxcar-smoothed twice (3x3x3, interior only).

    pyCOLA (``evolve`` with ``covers_full_box=True``) smooths its displacement arrays in place
    and, since its "COLA box" arrays are the same objects, twice; the difference Psi - S^2 Psi
    starts as residual displacement and velocity. Returns a new (3, N, N, N) float32 array.
    """
    out = np.empty_like(psi)
    tmp = np.empty_like(psi[0])
    for c in range(3):
        _box_smooth(psi[c], tmp)
        _box_smooth(tmp, out[c])
    return out


@nb.njit(parallel=True, cache=True)
def _residual_velocity(psi1, f1, psi2, f2, t1, t2, out):
    for p in nb.prange(out.shape[0]):
        for c in range(3):
            out[p, c] = np.float32(t1 * (psi1[c, p] - f1[c, p]) + t2 * (psi2[c, p] - f2[c, p]))


@nb.njit(inline="always")
def _wrap_near(x, box):
    """x (float32, within one box of [0, box)) wrapped into [0, box)."""
    if x >= box:
        x -= box
        if x >= box:  # only for steps longer than a box
            x = _wrap(x, box)
    elif x < 0:
        x += box
        if x >= box or x < 0:  # -tiny + box rounds to box
            x = _wrap(x, box)
    return x


@nb.njit(parallel=True, cache=True)
def _drift(pos, vel, psi1, psi2, alpha, g1, g2, box, out):
    a32, g132, g232, b32 = np.float32(alpha), np.float32(g1), np.float32(g2), np.float32(box)
    for p in nb.prange(pos.shape[0]):
        for c in range(3):
            x = pos[p, c] + (vel[p, c] * a32 + g132 * psi1[c, p] + g232 * psi2[c, p])
            out[p, c] = _wrap_near(x, b32)


@nb.njit(parallel=True, cache=True)
def _kick(vel, phi, pos, psi1, psi2, beta, d1, c2, inv_h, scheme):
    m = phi.shape[0]
    for p in nb.prange(pos.shape[0]):
        x, y, z = pos[p, 0], pos[p, 1], pos[p, 2]
        gx, gy, gz = pm.grad3(phi, x, y, z, inv_h, m, scheme)
        vel[p, 0] += np.float32(beta * (gx + d1 * psi1[0, p] + c2 * psi2[0, p]))
        vel[p, 1] += np.float32(beta * (gy + d1 * psi1[1, p] + c2 * psi2[1, p]))
        vel[p, 2] += np.float32(beta * (gz + d1 * psi1[2, p] + c2 * psi2[2, p]))


@nb.njit(parallel=True, cache=True)
def _to_delta(mesh, factor):
    m = mesh.shape[0]
    for i in nb.prange(m):
        for j in range(m):
            for k in range(m):
                mesh[i, j, k] = mesh[i, j, k] * factor - np.float32(1.0)


@nb.njit(parallel=True, cache=True)
def _mean_velocity(vel, nchunks):
    n = vel.shape[0]
    chunk = (n + nchunks - 1) // nchunks
    part = np.zeros((nchunks, 6))
    for c in nb.prange(nchunks):
        for p in range(c * chunk, min(n, (c + 1) * chunk)):
            for d in range(3):
                part[c, d] += vel[p, d]
                part[c, 3 + d] += vel[p, d] * vel[p, d]
    tot = part.sum(axis=0) / n
    return tot[:3], np.sqrt(tot[3:].sum())


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------

@dataclass
class StepInfo:
    """Progress of one step, handed to the ``progress`` callback.

    step : 1-based step index; n_steps : total; a : scale factor reached by the drift;
    elapsed : seconds since ``evolve`` started; rss, peak_rss : bytes;
    times : cumulative seconds per part (lpt_init, deposit (CIC paint + delta), fft (forward,
        Green's function, inverse), gradient_interpolation (4-point gradient read at the
        particles and the kick: one fused pass), drift);
    mean_velocity : mean residual momentum (3,) (zero up to float32 round-off);
    rms_velocity : its rms (same units), the scale to compare the mean with.
    """

    step: int
    n_steps: int
    a: float
    elapsed: float
    rss: int
    peak_rss: int
    times: dict = field(default_factory=dict)
    mean_velocity: np.ndarray | None = None
    rms_velocity: float = 0.0


def step_scale_factors(a_start: float, n_steps: int, a_final: float = 1.0) -> np.ndarray:
    """Scale factors a_k = a_start + k (a_final - a_start) / n_steps, k = 0..n_steps."""
    return a_start + (a_final - a_start) * np.arange(n_steps + 1) / n_steps


def _check_inputs(psi1, psi2, box, a_start, n_steps, gridscale, a_out, a_final):
    if psi1.ndim != 4 or psi1.shape[0] != 3 or len(set(psi1.shape[1:])) != 1:
        raise ValueError(f"psi1 must have shape (3, N, N, N), got {psi1.shape}")
    if psi2.shape != psi1.shape:
        raise ValueError(f"psi2 shape {psi2.shape} differs from psi1 shape {psi1.shape}")
    for name, arr in (("psi1", psi1), ("psi2", psi2)):
        if arr.dtype != np.float32:
            raise ValueError(f"{name} must be float32, got {arr.dtype}")
    if not box > 0:
        raise ValueError(f"box = {box}: expected > 0 [Mpc/h]")
    if not 0.0 < a_start < a_final:
        raise ValueError(f"a_start = {a_start}: expected 0 < a_start < a_final = {a_final}")
    if int(n_steps) < 1:
        raise ValueError(f"n_steps = {n_steps}: expected >= 1")
    if int(gridscale) < 1:
        raise ValueError(f"gridscale = {gridscale}: expected an integer >= 1")
    bad = [a for a in a_out if not a_start - 1e-12 <= a <= a_final + 1e-12]
    if not a_out or bad:
        raise ValueError(f"output scale factors {bad or a_out} outside [a_start, a_final] = "
                         f"[{a_start}, {a_final}]")


def evolve(psi1: np.ndarray, psi2: np.ndarray, cosmo: Cosmology, box: float, *,
           a_start: float, n_steps: int, gridscale: int = 1,
           a_out: Sequence[float] = (1.0,), a_final: float = 1.0, n_lpt: float = N_LPT,
           threads: int | None = None,
           progress: Callable[[StepInfo], None] | None = None,
           on_output: Callable[[float, np.ndarray], None] | None = None,
           frame: str = "lpt", q_offset: float = 0.5, gradient: str = "central",
           ) -> dict[float, np.ndarray]:
    """Evolve 2LPT initial conditions to every requested scale factor with COLA.

    Parameters
    ----------
    psi1, psi2 : (3, N, N, N) float32  Zel'dovich and 2LPT displacements [Mpc/h] normalised to
        D1 = 1 at z = 0 (Psi2 carries the -3/7, see ``lpt.py``). Used in place, never copied.
    cosmo : Cosmology  Flat LCDM parameters.
    box : float  Box side [Mpc/h].
    a_start : float  Scale factor of the initial 2LPT positions (residual velocity 0 there).
    n_steps : int  Number of KDK steps linear in a from a_start to a_final.
    gridscale : int  PM mesh cells per particle per axis (mesh M = gridscale N).
    a_out : sequence of float  Scale factors of the snapshots (each in [a_start, a_final]).
    a_final : float  Scale factor at the end of the step grid (default 1).
    n_lpt : float  Temporal COLA index n (pyCOLA: -2.5).
    threads : int  numba and FFT threads (None: numba's current setting).
    progress : callable(StepInfo)  Called after every step.
    on_output : callable(a, positions)  If given, each snapshot is handed over as soon as it
        is reached (positions valid during the call only) instead of being kept in memory.
    frame : "lpt" (default: the 2LPT frame itself, residual velocity 0 at a_start) or "pycola"
        (pyCOLA's boxcar-smoothed frame, ``pycola_frame``, with Psi - S^2 Psi as initial
        residual; for engine-vs-engine parity only: it costs 6 more floats per particle).
    q_offset : float  Lagrangian lattice offset in units of the particle spacing: 0.5 puts
        particle (i, j, k) at the cell centre (the pipeline's contract), 0 at the cell corner
        (pyCOLA's lattice, for parity runs: the mesh then sees the same particle layout).
    gradient : "central" (momentum conserving, default) or "pycola" (see ``pm.gradient_at``).

    Returns
    -------
    dict a -> (N^3, 3) float32 positions [Mpc/h] in [0, box), particle order (i, j, k) row-major
    (empty when ``on_output`` is given).
    """
    a_out = sorted({float(a) for a in a_out})
    _check_inputs(psi1, psi2, box, a_start, n_steps, gridscale, a_out, a_final)
    t0 = time.perf_counter()
    if threads is not None:
        nb.set_num_threads(int(threads))
    workers = nb.get_num_threads()
    n = psi1.shape[1]
    n3 = n**3
    m = int(gridscale) * n
    box = float(box)
    p1 = psi1.reshape(3, n3)
    p2 = psi2.reshape(3, n3)
    if not (p1.flags.c_contiguous and p2.flags.c_contiguous):
        raise ValueError("psi1 and psi2 must be C-contiguous")
    times = {k: 0.0 for k in ("lpt_init", "deposit", "fft", "gradient_interpolation", "drift")}
    results: dict[float, np.ndarray] = {}
    pending = list(a_out)

    def emit(a: float, positions: np.ndarray, live: bool) -> None:
        if on_output is not None:
            on_output(a, positions)
        else:
            results[a] = positions.copy() if live else positions

    if gradient not in pm.GRADIENT_SCHEMES:
        raise ValueError(f"gradient = {gradient!r}: expected one of {sorted(pm.GRADIENT_SCHEMES)}")
    scheme = pm.GRADIENT_SCHEMES[gradient]
    a_steps = step_scale_factors(a_start, int(n_steps), a_final)
    da = (a_final - a_start) / n_steps
    d1 = lambda a: float(growth_D1(a, cosmo))  # noqa: E731
    d2 = lambda a: float(growth_D2(a, cosmo))  # noqa: E731

    tic = time.perf_counter()
    pos = np.empty((n3, 3), dtype=np.float32)
    _init_positions(p1, p2, d1(a_start), d2(a_start), box, n, pos, float(q_offset))
    vel = np.zeros((n3, 3), dtype=np.float32)
    if frame == "pycola":
        f1 = pycola_frame(psi1).reshape(3, n3)
        f2 = pycola_frame(psi2).reshape(3, n3)
        q0 = float(Q(a_start, cosmo))
        t1 = q0 * float(growth_f(a_start, cosmo)) * d1(a_start) / a_start  # T[D1] = Q dD1/da
        t2 = q0 * 2.0 * d2(a_start) / a_start * float(Omega_m_a(a_start, cosmo)) ** (6.0 / 11.0)
        _residual_velocity(p1, f1, p2, f2, t1, t2, vel)
        p1, p2 = f1, f2
    elif frame != "lpt":
        raise ValueError(f"frame = {frame!r}: expected 'lpt' or 'pycola'")
    times["lpt_init"] += time.perf_counter() - tic
    while pending and pending[0] <= a_start + 1e-12:
        emit(pending.pop(0), pos, live=True)

    painter = cic.Painter(n3, m, box)
    inv_h = np.float32(m / box)
    for k in range(int(n_steps)):
        if not pending:
            break
        a_k, a_next = float(a_steps[k]), float(a_steps[k + 1])
        # ---- force at a_k and kick to a_k + da/2 ----
        tic = time.perf_counter()
        mesh = painter.paint(pos)
        _to_delta(mesh, np.float32(m**3 / n3))
        times["deposit"] += time.perf_counter() - tic
        tic = time.perf_counter()
        phi_k = pm.potential_k(mesh, box, workers=workers)
        del mesh
        phi = pm.to_real(phi_k, m, workers=workers)
        del phi_k
        times["fft"] += time.perf_counter() - tic
        a_kick_i = a_k if k == 0 else a_k - 0.5 * da
        a_kick_f = a_k + 0.5 * da
        beta = kick_factor(a_kick_i, a_kick_f, a_k, cosmo, n_lpt)
        d1c, c2 = d1(a_k), psi2_force_factor(a_k, cosmo)
        tic = time.perf_counter()
        _kick(vel, phi, pos, p1, p2, beta, d1c, c2, inv_h, scheme)
        times["gradient_interpolation"] += time.perf_counter() - tic
        del phi
        # ---- snapshots inside (a_k, a_next), then the drift to a_next ----
        tic = time.perf_counter()
        while pending and pending[0] < a_next - 1e-9:
            a = pending.pop(0)
            out = np.empty_like(pos)
            _drift(pos, vel, p1, p2, drift_factor(a_k, a, a_kick_f, cosmo, n_lpt),
                   d1(a) - d1(a_k), d2(a) - d2(a_k), box, out)
            emit(a, out, live=False)
            del out
        _drift(pos, vel, p1, p2, drift_factor(a_k, a_next, a_kick_f, cosmo, n_lpt),
               d1(a_next) - d1(a_k), d2(a_next) - d2(a_k), box, pos)
        times["drift"] += time.perf_counter() - tic
        while pending and pending[0] <= a_next + 1e-9:
            emit(pending.pop(0), pos, live=bool(pending))
        if progress is not None:
            rss, peak = rss_bytes()
            vmean, vrms = _mean_velocity(vel, 64)
            progress(StepInfo(step=k + 1, n_steps=int(n_steps), a=a_next,
                              elapsed=time.perf_counter() - t0, rss=rss, peak_rss=peak,
                              times=dict(times), mean_velocity=vmean, rms_velocity=vrms))
    return results


def pm_force(pos: np.ndarray, n_particles: int, m: int, box: float, workers: int = -1,
             gradient: str = "central") -> np.ndarray:
    """grad phi at the particles, (n, 3) float32 [Mpc/h]: the force path of ``evolve``.

    CIC paint -> delta = rho m^3 / n_particles - 1 -> phi_k = -delta_k / k^2 -> 4-point
    gradient at the particles. The acceleration is -1.5 Omega_m a / Q(a) times this.
    """
    mesh = cic.paint(pos, m, box)
    _to_delta(mesh, np.float32(m**3 / n_particles))
    phi = pm.potential(mesh, box, workers=workers)
    return pm.gradient_at(phi, pos, box, gradient)


def lagrangian_positions(n: int, box: float) -> np.ndarray:
    """Cell-centre Lagrangian positions q = (i + 1/2, j + 1/2, k + 1/2) box / n, (n^3, 3) float32."""
    idx = (np.arange(n, dtype=np.float64) + 0.5) * box / n
    q = np.stack(np.meshgrid(idx, idx, idx, indexing="ij"), axis=-1).reshape(-1, 3)
    return q.astype(np.float32)


def lpt_positions(psi1: np.ndarray, psi2: np.ndarray, cosmo: Cosmology, box: float, a: float) -> np.ndarray:
    """2LPT positions q + D1(a) Psi1 + D2(a) Psi2 wrapped into [0, box), (N^3, 3) float32."""
    n = psi1.shape[1]
    out = np.empty((n**3, 3), dtype=np.float32)
    _init_positions(psi1.reshape(3, -1), psi2.reshape(3, -1), float(growth_D1(a, cosmo)),
                    float(growth_D2(a, cosmo)), float(box), n, out)
    return out
