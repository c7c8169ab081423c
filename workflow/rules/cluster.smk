# Cluster runs (docs/slurm.md). Nothing here changes the DAG: a dry run
# (`snakemake --profile slurm -n --configfile config/paper.yaml`) ends with the number of Slurm
# jobs it would submit (group jobs count once, local rules not at all).
import atexit

from cosmoflow import cluster

atexit.register(cluster.report_dry_run, workflow)
