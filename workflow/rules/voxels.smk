# Voxels: one COLA snapshot -> particle counts on voxels.n_voxels^3 (docs/data.md, "Voxels").
# Uses RESULTS, SIMS, REDSHIFTS and zstr() from common.smk.


def voxels_mem_mb(wildcards, threads):
    """Positions (N^3 x 3 float32) + one private V^3 uint32 histogram per thread + output."""
    n = config["simulation"]["n_particles"] ** 3
    v = config["voxels"]["n_voxels"] ** 3
    return int((12 * n + 4 * v * (threads + 2)) / 2**20) + 500


if not BATCHED:  # one job per stage and simulation (sims.batch 1); else workflow/rules/simulate.smk

    rule voxelize:
        input:
            f"{RESULTS}/sims/{{sim}}/snapshot_z{{z}}.hdf5",
        output:
            f"{RESULTS}/voxels/{{sim}}/z{{z}}.h5",
        log:
            f"{RESULTS}/logs/voxels/{{sim}}_z{{z}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/voxels/{{sim}}_z{{z}}.tsv"
        params:
            n_voxels=config["voxels"]["n_voxels"],
            subvolume=config["voxels"]["subvolume"],
        threads: config["voxels"]["threads"]
        resources:
            mem_mb=voxels_mem_mb,
            runtime=15,
        group:
            "simulation"
        conda:
            "../../envs/voxels.yaml"
        script:
            "../scripts/voxels.py"


STAGE_OUTPUTS["voxels"] = lambda: expand(
    f"{RESULTS}/voxels/{{sim}}/z{{z}}.h5", sim=SIMS, z=[zstr(z) for z in REDSHIFTS]
)


rule voxels:
    input:
        stage_outputs("voxels"),
