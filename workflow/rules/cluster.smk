# Cluster runs (docs/slurm.md). Nothing here changes the DAG's jobs, only how they are batched:
# - a dry run (`snakemake --profile slurm -n --configfile config/paper.yaml`) ends with the
#   number of Slurm jobs it would submit (group jobs count once, local rules not at all);
# - cluster runs and their dry runs size the group jobs to a node of the partition and its MaxTime
#   and stop before submitting a job no node could run (cluster.install);
# - a Slurm run watches its pending jobs and stops when one can never start (cluster.start_watch).
#   Snakemake keeps one onstart handler: a second `onstart:` elsewhere would replace this one.
import atexit

from cosmoflow import cluster

atexit.register(cluster.report_dry_run, workflow)
cluster.install(workflow)


onstart:
    cluster.start_watch(workflow)
