# Stage 8: evaluation on the test split: metrics (network, mean and P(k) baselines), plots.

EVAL_SIMS = SPLITS["test"][:4]  # simulations shown in the P(k)-vs-linear plots
# model.head gaussian: widths calibrated on the calibration split (sims.n_cal), or on the
# validation split when there is none; a calibration plot
GAUSSIAN = config["model"].get("head", "point") == "gaussian"
CALIBRATION_SPLIT = "cal" if SPLITS["cal"] else "val"


rule evaluate:
    input:
        model=f"{RESULTS}/train/model.keras",
        history=f"{RESULTS}/train/history.csv",
        test=f"{RESULTS}/tfrecords/test/manifest.json",
        train=f"{RESULTS}/tfrecords/train/manifest.json",
        voxels=expand(f"{RESULTS}/voxels/{{sim}}/z{{z}}.h5", sim=EVAL_SIMS, z=[zstr(z) for z in REDSHIFTS]),
        power=expand(f"{RESULTS}/power/{{sim}}.h5", sim=EVAL_SIMS),
        **({"calibration": f"{RESULTS}/tfrecords/{CALIBRATION_SPLIT}/manifest.json"} if GAUSSIAN else {}),
    output:
        metrics=report(f"{RESULTS}/evaluate/metrics.json", caption="../report/metrics.rst", category="Evaluation"),
        predictions=f"{RESULTS}/evaluate/predictions.csv",
        predictions_simulation=f"{RESULTS}/evaluate/predictions_simulation.csv",
        combinations=f"{RESULTS}/evaluate/combinations.json",  # the combinations, for predict
        loss=report(f"{RESULTS}/evaluate/loss.png", caption="../report/loss.rst", category="Training"),
        scatter=report(f"{RESULTS}/evaluate/pred_vs_true.png", caption="../report/pred_vs_true.rst", category="Evaluation"),
        errors=report(f"{RESULTS}/evaluate/errors.png", caption="../report/errors.rst", category="Evaluation"),
        examples=report(f"{RESULTS}/evaluate/examples.png", caption="../report/examples.rst", category="Data"),
        pk=report(
            expand(f"{RESULTS}/evaluate/pk_z{{z}}.png", z=[zstr(z) for z in REDSHIFTS]),
            caption="../report/pk.rst",
            category="Simulations",
        ),
        **({"calibration": report(f"{RESULTS}/evaluate/calibration.png",
                                  caption="../report/calibration.rst", category="Evaluation")}
           if GAUSSIAN else {}),
    params:
        cfg=config_json_for_params(),
        out=f"{RESULTS}/evaluate",
        calibration=lambda w, input: f"--calibration-manifest {input.calibration}" if GAUSSIAN else "",
    log:
        f"{RESULTS}/logs/evaluate/evaluate.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/evaluate.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/evaluate.yaml"
    shell:
        "{PYTHON} -m cosmoflow.evaluate --model {input.model} --history {input.history} "
        "--test-manifest {input.test} --train-manifest {input.train} --voxels {input.voxels} "
        "--power {input.power} {params.calibration} --config-json {params.cfg:q} --out {params.out} 2> {log}"


# `snakemake evaluate` runs this rule (and everything it needs): it is the stage's target.
STAGE_OUTPUTS["evaluate"] = lambda: [f"{RESULTS}/evaluate/metrics.json"]
