# Stage 1: sample cosmologies (Omega_M, sigma_8, n_s; flat LCDM), seeds and splits.


rule sample:
    output:
        f"{RESULTS}/cosmologies.csv",
    params:
        rows=lambda w: list(_ROWS.values()),
    log:
        f"{RESULTS}/logs/sample.log",
    benchmark:
        f"{RESULTS}/benchmarks/sample.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    localrule: True
    conda:
        "../../envs/sample.yaml"
    script:
        "../scripts/sample.py"


STAGE_OUTPUTS["cosmologies"] = lambda: [f"{RESULTS}/cosmologies.csv"]


rule cosmologies:
    input:
        stage_outputs("cosmologies"),
