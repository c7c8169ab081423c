# Stage 2: linear P(k, z=0) and growth tables per simulation (CLASS or EH98).
# The table is an ancient() input: regrowing it (more sims) does not rerun existing sims;
# the per-simulation `row` param does, when that simulation's cosmology changes.


rule power_spectrum:
    input:
        table=ancient(f"{RESULTS}/cosmologies.csv"),
    output:
        f"{RESULTS}/power/{{sim}}.h5",
    params:
        row=lambda w: sim_row(w.sim),
        power=config["power"],
    log:
        f"{RESULTS}/logs/power/{{sim}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/power/{{sim}}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    group:
        "simulation"
    conda:
        "../../envs/power.yaml"
    script:
        "../scripts/power.py"


STAGE_OUTPUTS["power"] = lambda: expand(f"{RESULTS}/power/{{sim}}.h5", sim=SIMS)


rule power:
    input:
        stage_outputs("power"),
