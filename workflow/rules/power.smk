# Stage 2: linear P(k, z=0) and growth tables per simulation (CLASS or EH98).


if not BATCHED:  # one job per stage and simulation (sims.batch 1); else workflow/rules/simulate.smk

    rule power_spectrum:
        input:
            cosmology=f"{RESULTS}/sims/{{sim}}/cosmology.json",
        output:
            f"{RESULTS}/power/{{sim}}.h5",
        params:
            power=power_params(),
            gridscale=config["cola"]["gridscale"],  # k_max covers the finest PM mesh
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


STAGE_OUTPUTS["power"] = lambda: expand(f"{RESULTS}/power/{{sim}}.h5", sim=SIMS) + [
    f"{RESULTS}/cosmologies.csv"
]


rule power:
    input:
        stage_outputs("power"),
