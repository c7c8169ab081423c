"""CLASS per simulation: today's two classy calls against cheaper ways to the same numbers, in
the same run.

A simulation runs CLASS for its derived amplitude (rule `cosmology`, ``complete_row``: sigma8 in,
A_s out, P_k_max = SIGMA8_K_MAX) and for its P(k) table (rule `power_spectrum`, ``make_table``:
P_k_max = 1.05 k_max of the mesh). Variants, each timed on both calls:

- ``before``: the two calls as before this benchmark (sigma8 as classy input in both: classy
  shoots, i.e. runs CLASS twice per call);
- ``exact``: what the pipeline does now (``power.shoot_A_s``: CLASS's own shooting in one run;
  the table from the row's A_s, one run): must give the same A_s and tables bit for bit;
- ``exact + <setting>``: the same with extra CLASS precision parameters
  (``power.class_precision``);
- ``single run``: ONE CLASS run per simulation, the shooting run itself at
  P_k_max = max(10 1/Mpc, the table's), its P(k) scaled by A_s / A_s_guess (reported, not used).

For 3 cosmologies spanning the prior (Omega_m, sigma_8, n_s; H0 70.3, Omega_b 0.045, T_cmb
2.7255) and the meshes of 128^3 and 256^3 particles in 256 Mpc/h it reports max |P/P_before - 1|
over the table's k in [k_min, k_max], the A_s and sigma_8(table) differences, and the median wall
(and CPU) time of each call over --rounds rounds, variants interleaved (rotated each round) so
that a shared machine slows all alike. --extra N adds N cosmologies drawn from the prior,
accuracy only.

    python benchmarks/bench_class.py                 # ~2 min on a quiet 2-core machine
    python benchmarks/bench_class.py --rounds 3 --extra 8
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cosmoflow import power  # noqa: E402
from pycola_wrapper.cosmology import Cosmology  # noqa: E402
from pycola_wrapper.power import sigma_R  # noqa: E402

BOX = 256.0
MESHES = (128, 256)
K_MIN, N_K = 1.0e-4, 512          # config.yaml's power.k_min, power.n_k
COSMOLOGIES = [                   # (Omega_m, sigma_8, n_s): two opposite corners and the middle
    (0.25, 0.949, 0.90),
    (0.30, 0.865, 0.95),
    (0.349, 0.78, 0.999),
]
PRIOR = {"Omega_m": (0.25, 0.35), "sigma_8": (0.78, 0.95), "n_s": (0.90, 1.00)}
SETTINGS = {                      # candidate power.class_precision values
    "tol 1e-4": {"tol_perturbations_integration": 1.0e-4},
    "tol 3e-5": {"tol_perturbations_integration": 3.0e-5},
    "l_max_g 8, l_max_pol_g 6": {"l_max_g": 8, "l_max_pol_g": 6},
    "tol 1e-4, tight coupling x2": {"tol_perturbations_integration": 1.0e-4,
                                    "tight_coupling_trigger_tau_c_over_tau_h": 0.03,
                                    "tight_coupling_trigger_tau_c_over_tau_k": 0.02},
    "k_per_decade_for_bao 50": {"k_per_decade_for_bao": 50},
}


def cosmo_of(om: float, s8: float, ns: float) -> Cosmology:
    return Cosmology(Omega_m=om, sigma_8=s8, n_s=ns, H0=70.3, Omega_b=0.045, T_cmb=2.7255)


def class_dict(c: Cosmology) -> dict:
    return {"Omega_m": c.Omega_m, "Omega_b": c.Omega_b, "n_s": c.n_s, "h": c.h, "T_cmb": c.T_cmb,
            "sigma_8": c.sigma_8}


def table_k(n_mesh: int) -> np.ndarray:
    return np.logspace(np.log10(K_MIN), np.log10(power.k_max_for(BOX, n_mesh)), N_K)


def before_amplitude(c: Cosmology) -> float:
    """complete_row before: sigma8 as classy input (CLASS shoots, then runs again), A_s read."""
    return power.run_class(power.class_params(class_dict(c), power.SIGMA8_K_MAX),
                           lambda e: e.get_current_derived_parameters(["A_s"])["A_s"])


def before_table(c: Cosmology, A_s: float, k: np.ndarray) -> np.ndarray:
    """make_table before: sigma8 as classy input at P_k_max 1.05 k_max."""
    return power.class_linear(k, c)[0]


def exact_calls(precision: dict):
    def amplitude(c: Cosmology) -> float:
        return power.shoot_A_s(class_dict(c), c.sigma_8, power.SIGMA8_K_MAX, precision)

    def table(c: Cosmology, A_s: float, k: np.ndarray) -> np.ndarray:
        return power.class_linear(k, c, A_s, p_k_max=1.05 * k.max(), precision=precision)[0]
    return amplitude, table


def single_run(c: Cosmology, k_tables: dict[int, np.ndarray]) -> tuple[float, dict]:
    """The shooting run alone, at P_k_max covering every table: A_s and P(k) from one run."""
    guess = c.sigma_8 * 2.43e-9 / 0.87659
    params = power.class_params(class_dict(c), 1.0, A_s=guess)
    del params["P_k_max_h/Mpc"]
    k_top = max(1.05 * k.max() for k in k_tables.values())
    params["P_k_max_1/Mpc"] = max(10.0, k_top * c.h)
    params.update(power.SHOOTING_THERMO)
    h = c.h

    def read(e):
        s8 = e.sigma8()
        return s8, {n: np.array([e.pk_lin(kk * h, 0.0) for kk in k]) * h**3
                    for n, k in k_tables.items()}
    s8, pk = power.run_class(params, read)
    scale = (c.sigma_8 / s8) ** 2
    return scale * guess, {n: p * scale for n, p in pk.items()}


def variants() -> dict:
    out = {"before": (before_amplitude, before_table), "exact": exact_calls({})}
    out.update({f"exact + {name}": exact_calls(prec) for name, prec in SETTINGS.items()})
    return out


def errors(ref: dict, got: dict) -> dict:
    """max |P/P_ref - 1| per mesh, dA_s/A_s, dsigma8(table)/sigma8 (largest over meshes)."""
    out = {"dA_s": got["A_s"] / ref["A_s"] - 1.0}
    for n in MESHES:
        out[f"P{n}"] = float(np.max(np.abs(got[n] / ref[n] - 1.0)))
    k = table_k(MESHES[-1])
    out["dsigma8"] = sigma_R(k, got[MESHES[-1]]) / sigma_R(k, ref[MESHES[-1]]) - 1.0
    return out


def run_variant(calls, c: Cosmology, ks: dict) -> tuple[dict, dict]:
    amplitude, table = calls
    res, wall, cpu = {}, {}, {}
    w, p = time.perf_counter(), time.process_time()
    res["A_s"] = amplitude(c)
    wall["amplitude"], cpu["amplitude"] = time.perf_counter() - w, time.process_time() - p
    for n in MESHES:
        w, p = time.perf_counter(), time.process_time()
        res[n] = table(c, res["A_s"], ks[n])
        wall[f"table {n}"], cpu[f"table {n}"] = time.perf_counter() - w, time.process_time() - p
    return res, {"wall": wall, "cpu": cpu}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds (median reported)")
    ap.add_argument("--extra", type=int, default=0, help="cosmologies drawn from the prior, accuracy only")
    ap.add_argument("--seed", type=int, default=17)
    args = ap.parse_args()
    ks = {n: table_k(n) for n in MESHES}
    vs = variants()
    names = list(vs)
    print(f"k_max: " + ", ".join(f"{n}^3 {ks[n][-1]:.3f} h/Mpc" for n in MESHES)
          + f"; {args.rounds} rounds, variants rotated each round")
    times = {v: [] for v in names + ["single run"]}
    err = {v: {} for v in names + ["single run"]}
    for r in range(args.rounds):
        for ci, cpar in enumerate(COSMOLOGIES):
            c = cosmo_of(*cpar)
            order = names[r % len(names):] + names[:r % len(names)]
            results = {}
            for v in order:
                results[v], t = run_variant(vs[v], c, ks)
                times[v].append(t)
            w, p = time.perf_counter(), time.process_time()
            A_s, pk = single_run(c, ks)
            t1 = {"wall": {"single": time.perf_counter() - w}, "cpu": {"single": time.process_time() - p}}
            times["single run"].append(t1)
            if r == 0:
                for v in names:
                    err[v][cpar] = errors(results["before"], results[v])
                err["single run"][cpar] = errors(results["before"], {"A_s": A_s, **pk})
        print(f"round {r + 1}/{args.rounds} done", flush=True)

    rng = np.random.default_rng(args.seed)
    extra = [tuple(float(rng.uniform(*PRIOR[p])) for p in ("Omega_m", "sigma_8", "n_s"))
             for _ in range(args.extra)]
    for cpar in extra:
        c = cosmo_of(*cpar)
        ref, _ = run_variant(vs["before"], c, ks)
        for v in names[1:]:
            err[v][cpar] = errors(ref, run_variant(vs[v], c, ks)[0])
        A_s, pk = single_run(c, ks)
        err["single run"][cpar] = errors(ref, {"A_s": A_s, **pk})

    def med(v, clock, key):
        return float(np.median([t[clock][key] for t in times[v]]))

    print("\n## Accuracy against before (max over k in [k_min, k_max] of |P/P_before - 1|)\n")
    print("| variant | cosmology (Omega_m, sigma_8, n_s) | dA_s/A_s | " +
          " | ".join(f"P {n}^3" for n in MESHES) + " | dsigma8(table) |")
    print("|---|---|---|" + "---|" * len(MESHES) + "---|")
    for v in names[1:] + ["single run"]:
        for cpar, e in err[v].items():
            print(f"| {v} | {cpar} | {e['dA_s']:+.1e} | " +
                  " | ".join(f"{e[f'P{n}']:.1e}" for n in MESHES) + f" | {e['dsigma8']:+.1e} |")
    worst = {v: max(max(e[f"P{n}"] for n in MESHES) for e in err[v].values()) for v in err}

    print("\n## Time per call, median over rounds and cosmologies [s] (wall; CPU in brackets)\n")
    print("| variant | amplitude (rule cosmology) | " +
          " | ".join(f"table {n}^3" for n in MESHES) + " | " +
          " | ".join(f"per simulation {n}^3" for n in MESHES) + " | speed-up " +
          " | ".join(f"{n}^3" for n in MESHES) + " | worst |P/P_before - 1| |")
    print("|---|---|" + "---|" * (3 * len(MESHES)) + "---|")
    base = {n: med("before", "wall", "amplitude") + med("before", "wall", f"table {n}") for n in MESHES}
    for v in names:
        per = {n: med(v, "wall", "amplitude") + med(v, "wall", f"table {n}") for n in MESHES}
        percpu = {n: med(v, "cpu", "amplitude") + med(v, "cpu", f"table {n}") for n in MESHES}
        print(f"| {v} | {med(v, 'wall', 'amplitude'):.3f} ({med(v, 'cpu', 'amplitude'):.3f}) | " +
              " | ".join(f"{med(v, 'wall', f'table {n}'):.3f} ({med(v, 'cpu', f'table {n}'):.3f})"
                         for n in MESHES) + " | " +
              " | ".join(f"{per[n]:.3f} ({percpu[n]:.3f})" for n in MESHES) + " | " +
              " | ".join(f"{base[n] / per[n]:.2f}x" for n in MESHES) +
              f" | {worst.get(v, 0.0):.1e} |")
    s = med("single run", "wall", "single")
    print(f"| single run | {s:.3f} ({med('single run', 'cpu', 'single'):.3f}) for A_s and both tables | "
          + " | ".join("-" for _ in MESHES) + " | " + " | ".join(f"{s:.3f}" for _ in MESHES) + " | " +
          " | ".join(f"{base[n] / s:.2f}x" for n in MESHES) + f" | {worst['single run']:.1e} |")
    exact_ok = all(e["dA_s"] == 0.0 and all(e[f"P{n}"] == 0.0 for n in MESHES)
                   for e in err["exact"].values())
    print(f"\nexact: A_s and tables {'identical bit for bit' if exact_ok else 'DIFFER'} to before")
    return 0 if exact_ok else 1


if __name__ == "__main__":
    sys.exit(main())
