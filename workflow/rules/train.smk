# Stage 7: data-parallel training of the CosmoFlow network with MPI (docs/model.md).
import json
import sys
from pathlib import Path


# config train.mpi as a command. "mpiexec" means the launcher next to the Python running
# Snakemake (the venv's MPICH, the one that matches its mpi4py), never whatever mpiexec is first
# on PATH (Debian's OpenMPI would start N independent world-size-1 copies, which
# cosmoflow.train refuses). Any other value ("srun --mpi=pmi2" on Slurm, a path) is used as is.
_VENV_MPIEXEC = Path(sys.executable).parent / "mpiexec"
TRAIN_MPI = (str(_VENV_MPIEXEC)
             if config["train"]["mpi"] == "mpiexec" and _VENV_MPIEXEC.exists()
             else str(config["train"]["mpi"]))


# What the run depends on (a rerun trigger): the model, train and data sections less the thread
# count and launcher, which do not change the results (they travel as resources). Each run
# trains in its own folder results/train/runs/<id>-<n>/ (cosmoflow/train/runs.py: the id is a
# digest of these sections and of the manifests); only a finished run's files are copied to the
# declared outputs, so a failed or forced rerun never destroys an earlier run's model.
TRAIN_IDENTITY = {k: config[k] for k in ("model", "data")}
TRAIN_IDENTITY["train"] = {k: v for k, v in config["train"].items()
                           if k not in ("threads_per_rank", "mpi")}


rule train:
    input:
        train=f"{RESULTS}/tfrecords/train/manifest.json",
        val=f"{RESULTS}/tfrecords/val/manifest.json",
    output:
        model=f"{RESULTS}/train/model.keras",
        label_norm=f"{RESULTS}/train/label_norm.json",
        history=f"{RESULTS}/train/history.csv",
    params:
        cfg=json.dumps(TRAIN_IDENTITY, sort_keys=True),
        out=lambda w, output: str(Path(output.model).parent),
        runs=f"{RESULTS}/train/runs",
    log:
        f"{RESULTS}/logs/train/train.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/train.tsv"
    threads: config["train"]["ranks"] * config["train"]["threads_per_rank"]
    resources:
        tasks=config["train"]["ranks"],
        mpi=TRAIN_MPI,
        cpus_per_task=config["train"]["threads_per_rank"],
        mem_mb=4000 * config["train"]["ranks"],
        runtime=720,  # minutes; a SIGTERM at the limit checkpoints, rerun resumes
    conda:
        "../../envs/train.yaml"
    shell:
        # --runs: an unfinished run of the same id (killed by SIGKILL, or by Slurm's time limit:
        # SIGTERM -> checkpoint) is resumed; a finished one never is (--forcerun retrains)
        "{resources.mpi} -n {resources.tasks} {PYTHON} -m cosmoflow.train "
        "--config-json {params.cfg:q} --set train.threads_per_rank={resources.cpus_per_task} "
        "--train-manifest {input.train} --val-manifest {input.val} "
        "--out {params.out} --runs {params.runs} --ranks {resources.tasks} "
        "2> {log}"


STAGE_OUTPUTS["train"] = lambda: [
    f"{RESULTS}/train/model.keras",
    f"{RESULTS}/train/label_norm.json",
    f"{RESULTS}/train/history.csv",
]
