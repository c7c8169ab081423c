# Stage 1: sample cosmologies (flat LCDM; the varied parameters of config cosmology), seeds
# and splits. One small JSON per simulation (its own rerun trigger: the row param), gathered into
# a table. The drawn row lacks the amplitude the config does not give (A_s or sigma_8): the
# cosmology rule derives it with CLASS (~0.5 s), so cosmology.json and cosmologies.csv hold both.


if not BATCHED:  # one job per stage and simulation (sims.batch 1); else workflow/rules/simulate.smk

    rule cosmology:
        output:
            f"{RESULTS}/sims/{{sim}}/cosmology.json",
        params:
            row=lambda w: sim_row(w.sim),
            **class_precision_params(),  # CLASS's settings, when not its own
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
            "../../envs/power.yaml"  # CLASS
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
