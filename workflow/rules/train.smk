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


rule train:
    input:
        train=f"{RESULTS}/tfrecords/train/manifest.json",
        val=f"{RESULTS}/tfrecords/val/manifest.json",
    output:
        model=f"{RESULTS}/train/model.keras",
        label_norm=f"{RESULTS}/train/label_norm.json",
        history=f"{RESULTS}/train/history.csv",
    params:
        cfg=json.dumps({k: config[k] for k in ("model", "train", "data")}),
        out=lambda w, output: str(Path(output.model).parent),
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
        # --resume: a job killed by Slurm's time limit (SIGTERM -> checkpoint) continues
        "{resources.mpi} -n {resources.tasks} {PYTHON} -m cosmoflow.train "
        "--config-json {params.cfg:q} --train-manifest {input.train} "
        "--val-manifest {input.val} --out {params.out} --ranks {resources.tasks} --resume "
        "2> {log}"


STAGE_OUTPUTS["train"] = lambda: [
    f"{RESULTS}/train/model.keras",
    f"{RESULTS}/train/label_norm.json",
    f"{RESULTS}/train/history.csv",
]
