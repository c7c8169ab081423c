# Stage 1: sample cosmologies (Omega_M, sigma_8, n_s; flat LCDM), seeds and splits.
# One small JSON per simulation (its own rerun trigger: the row param), gathered into a table.


rule cosmology:
    output:
        f"{RESULTS}/sims/{{sim}}/cosmology.json",
    params:
        row=lambda w: sim_row(w.sim),
    log:
        f"{RESULTS}/logs/cosmology/{{sim}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/cosmology/{{sim}}.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    group:
        "simulation"
    conda:
        "../../envs/sample.yaml"
    script:
        "../scripts/cosmology.py"


rule sample:
    input:
        expand(f"{RESULTS}/sims/{{sim}}/cosmology.json", sim=SIMS),
    output:
        f"{RESULTS}/cosmologies.csv",
    localrule: True
    log:
        f"{RESULTS}/logs/sample.log",
    benchmark:
        f"{RESULTS}/benchmarks/sample.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../../envs/sample.yaml"
    script:
        "../scripts/sample.py"


STAGE_OUTPUTS["cosmologies"] = lambda: [f"{RESULTS}/cosmologies.csv"]


rule cosmologies:
    input:
        stage_outputs("cosmologies"),
