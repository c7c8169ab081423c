# Predict: the trained network on inputs of your own (docs/predict.md). `snakemake predict`
# runs it over the folder predict.inputs (each entry one input) into
# {RESULTS}/predict/predictions.csv, with evaluate's combinations (so after the evaluate
# stage). Not a stage: no STAGE_OUTPUTS entry, so the default target never runs it. Uses
# RESULTS and without_threads() from common.smk.

PREDICT_SUFFIXES = (".h5", ".hdf5", ".npy")


def predict_entries() -> list:
    """The entries of the folder predict.inputs, sorted: each one input (a voxel or snapshot
    folder, a voxel file, a snapshot, a .npy grid). Stops naming the key when there are none."""
    folder = config["predict"]["inputs"]
    if not folder:
        raise WorkflowError("predict.inputs is null: set it to a folder of inputs (e.g. "
                            "--config predict='{inputs: results/voxels}'; docs/predict.md)")
    if not os.path.isdir(folder):
        raise WorkflowError(f"predict.inputs: {folder} is not a folder")
    entries = sorted(str(e) for e in Path(folder).iterdir()
                     if (e.is_dir() and not e.name.startswith(".")) or e.suffix in PREDICT_SUFFIXES)
    if not entries:
        raise WorkflowError(f"predict.inputs: {folder} holds no input (folders, {', '.join(PREDICT_SUFFIXES)})")
    return entries


def predict_files(wildcards) -> list:
    """Every file of the inputs (a changed input reruns the job)."""
    files = []
    for entry in map(Path, predict_entries()):
        files += (sorted(str(f) for f in entry.iterdir() if f.suffix in PREDICT_SUFFIXES)
                  if entry.is_dir() else [str(entry)])
    return files


rule predict:
    input:
        model=f"{RESULTS}/train/model.keras",
        label_norm=f"{RESULTS}/train/label_norm.json",
        manifest=f"{RESULTS}/tfrecords/train/manifest.json",
        inputs=predict_files,
        # a gaussian head's widths are calibrated as evaluate calibrated them (GAUSSIAN:
        # evaluate.smk)
        **({"calibration": f"{RESULTS}/evaluate/metrics.json"} if GAUSSIAN else {}),
        # evaluate's combinations of the network with the samples' statistics (network_stats
        # per sample, network_box per whole box): the stage's best estimates
        combinations=f"{RESULTS}/evaluate/combinations.json",
    output:
        f"{RESULTS}/predict/predictions.csv",
    log:
        f"{RESULTS}/logs/predict/predict.log",
    benchmark:
        f"{RESULTS}/benchmarks/predict/predict.tsv"
    params:
        entries=lambda wildcards: predict_entries(),
        options=without_threads(config["predict"]),
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../scripts/predict.py"
