# Stage 4: COLA N-body per simulation: 2LPT ICs -> one snapshot per redshift (one run).
# Memory is estimated from N and the mesh before the job is scheduled (resources) and checked
# again inside the job before anything is read (a clear error instead of an OOM kill).

from pycola_wrapper.cola import memory_estimate as _cola_memory_estimate


def cola_mem_mb(wildcards) -> int:
    """Peak memory of one COLA run [MB] (+15 % margin), from N and gridscale."""
    n = int(sim_row(wildcards.sim)["n_particles"])
    est = _cola_memory_estimate(n, int(config["cola"]["gridscale"]))["total"]
    return int(est * 1.15 / 1e6) + 200


def cola_runtime_min(wildcards) -> int:
    """Wall-time request [min]: ~0.25 us per particle, per step and per mesh cell ratio, x3."""
    n = int(sim_row(wildcards.sim)["n_particles"])
    g = int(config["cola"]["gridscale"])
    sec = 2.5e-7 * n**3 * config["cola"]["n_steps"] * max(1, g**3 / 2) * 3 + 60
    return max(5, int(sec / 60) + 1)


if not BATCHED:  # one job per stage and simulation (sims.batch 1); else workflow/rules/simulate.smk

    rule cola:
        input:
            ics=f"{RESULTS}/sims/{{sim}}/ics.hdf5",
            power=f"{RESULTS}/power/{{sim}}.h5",
            cosmology=f"{RESULTS}/sims/{{sim}}/cosmology.json",  # the complete row: snapshot attrs
        output:
            [f"{RESULTS}/sims/{{sim}}/snapshot_z{zstr(z)}.hdf5" for z in REDSHIFTS],
        params:
            row=lambda w: sim_row(w.sim),
            cola=without_threads(config["cola"]),  # changing cola.threads reruns nothing
            redshifts=REDSHIFTS,
        log:
            f"{RESULTS}/logs/cola/{{sim}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/cola/{{sim}}.tsv"
        threads: config["cola"]["threads"]
        resources:
            mem_mb=cola_mem_mb,
            runtime=cola_runtime_min,
        group:
            "simulation"
        conda:
            "../../envs/cola.yaml"
        script:
            "../scripts/cola.py"


STAGE_OUTPUTS["sims"] = lambda: expand(
    f"{RESULTS}/sims/{{sim}}/snapshot_z{{z}}.hdf5", sim=SIMS, z=[zstr(z) for z in REDSHIFTS]
)


rule sims:
    input:
        stage_outputs("sims"),
