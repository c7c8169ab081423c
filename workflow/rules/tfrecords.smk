# TFRecords: one rule per split packs the voxel files of that split's simulations into record
# files + manifest.json (written last) under {RESULTS}/tfrecords/{split}/ (docs/data.md).
# Uses RESULTS, SPLITS, REDSHIFTS and zstr() from common.smk.
import math


def tfrecord_outputs(split):
    """Record file names of a split; must match cosmoflow.data.tfrecord.record_file_name
    (the script checks that the files written are exactly these)."""
    n_sub = (config["voxels"]["n_voxels"] // config["voxels"]["subvolume"]) ** 3
    per_sim = 1 if config["tfrecords"].get("redshift_channels", False) else len(REDSHIFTS)
    n = len(SPLITS[split]) * per_sim * n_sub
    n_files = math.ceil(n / config["tfrecords"]["samples_per_file"])
    return [f"{RESULTS}/tfrecords/{split}/{split}-{i:04d}.tfrecord" for i in range(n_files)]


TFRECORD_SPLITS = [s for s in ("train", "val", "test", "cal") if SPLITS.get(s)]
# The splits as a rule parameter (a rerun trigger): the calibration split only when it has
# simulations, so configs without sims.n_cal keep the parameters (and records) they had.
_SPLIT_PARAMS = {k: list(v) for k, v in SPLITS.items() if v or k != "cal"}

for _split in TFRECORD_SPLITS:

    rule:
        name:
            f"tfrecords_{_split}"
        input:
            expand(f"{RESULTS}/voxels/{{sim}}/z{{z}}.h5", sim=SPLITS[_split],
                   z=[zstr(z) for z in REDSHIFTS]),
        output:
            manifest=f"{RESULTS}/tfrecords/{_split}/manifest.json",
            records=tfrecord_outputs(_split),
        log:
            f"{RESULTS}/logs/tfrecords/{_split}.log",
        benchmark:
            f"{RESULTS}/benchmarks/tfrecords/{_split}.tsv"
        params:
            split=_split,
            splits=_SPLIT_PARAMS,
        threads: 1
        resources:
            mem_mb=2000,
            runtime=60,
        conda:
            "../../envs/tfrecords.yaml"
        script:
            "../scripts/tfrecords.py"


STAGE_OUTPUTS["tfrecords"] = lambda: [f"{RESULTS}/tfrecords/{s}/manifest.json" for s in TFRECORD_SPLITS]


rule tfrecords:
    input:
        stage_outputs("tfrecords"),
