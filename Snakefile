# CosmoFlow pipeline: cosmologies -> CLASS power -> MUSIC ICs -> COLA -> voxels -> TFRecords
# -> MPI training -> evaluation. A table of contents: config, report, one .smk per stage.
# Run `snakemake --cores 2` (default config) or `snakemake --configfile config/paper.yaml ...`.

import os

configfile: os.path.join(workflow.basedir, "config", "config.yaml")

report: "workflow/report/workflow.rst"

include: "workflow/rules/common.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/power.smk"
include: "workflow/rules/ics.smk"
include: "workflow/rules/cola.smk"
include: "workflow/rules/voxels.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/tfrecords.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/cluster.smk"


rule all:
    default_target: True
    input:
        # a function: evaluated while the DAG is built, after checking for broken chains
        lambda w: force_broken_chains() and [] or final_outputs(),
