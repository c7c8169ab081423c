# Batches of simulations (sims.batch = K > 1): one job per K simulations runs cosmology -> power
# -> ICs -> COLA -> voxels for each of them in one process (cosmoflow.sim_batch), writing the
# same per-simulation files and logs as the per-stage rules, which are then not defined.
# Batch b holds simulations bK .. bK + K - 1 (growing n_sims never moves a simulation to
# another batch). docs/pipeline.md, "Batches of simulations".


class _Sim:
    """Stand-in for a job's wildcards in the per-stage resource functions."""

    def __init__(self, sim):
        self.sim = sim


def sim_files(sim: str) -> dict:
    """Every file of one simulation's stages, named as the per-stage rules name them (snapshots,
    voxel files and voxel logs: lists in the order of cola.redshifts)."""
    zs = [zstr(z) for z in REDSHIFTS]
    return {
        "cosmology": f"{RESULTS}/sims/{sim}/cosmology.json",
        "power": f"{RESULTS}/power/{sim}.h5",
        "conf": f"{RESULTS}/sims/{sim}/music.conf",
        "transfer": f"{RESULTS}/sims/{sim}/transfer_camb.txt",
        "ics": f"{RESULTS}/sims/{sim}/ics.hdf5" if config["ics"]["keep"] else None,
        "snapshots": [f"{RESULTS}/sims/{sim}/snapshot_z{z}.hdf5" for z in zs],
        "voxels": [f"{RESULTS}/voxels/{sim}/z{z}.h5" for z in zs],
        "logs": {
            **{s: f"{RESULTS}/logs/{s}/{sim}.log" for s in ("cosmology", "power", "ics", "cola")},
            "voxels": [f"{RESULTS}/logs/voxels/{sim}_z{z}.log" for z in zs],
        },
    }


def batch_outputs(sims: list) -> list:
    """The per-simulation outputs of one batch (what the per-stage rules would write)."""
    out = []
    for sim in sims:
        f = sim_files(sim)
        out += [f["cosmology"], f["power"], f["conf"], f["transfer"]] + ([f["ics"]] if f["ics"] else [])
        out += f["snapshots"] + f["voxels"]
    return out


def batch_logs(sim: str) -> list:
    """One simulation's stage logs (the per-stage rules' log files)."""
    logs = sim_files(sim)["logs"]
    return [logs[s] for s in ("cosmology", "power", "ics", "cola")] + logs["voxels"]


def batch_mem_mb(sims: list, threads: int) -> int:
    """The largest of the per-stage requests (the stages run one after the other)."""
    w = _Sim(sims[0])
    n = int(sim_row(sims[0])["n_particles"])
    return max(cola_mem_mb(w), 1000 + 40 * n**3 // 2**20, voxels_mem_mb(w, threads))


def batch_runtime_min(sims: list) -> int:
    """Wall-time request [min]: COLA's per-simulation estimate (which has a 3x margin) + 1 min
    per simulation for the other stages at 128^3 (scaled with N^3), summed over the batch."""
    sec = 0.0
    for sim in sims:
        n = int(sim_row(sim)["n_particles"])
        sec += cola_runtime_min(_Sim(sim)) * 60 + 60 * max(1.0, n**3 / 128**3)
    return max(10, int(sec / 60) + 1)


BATCHES = [SIMS[i:i + BATCH] for i in range(0, len(SIMS), BATCH)]

if BATCHED:
    for _b, _sims in enumerate(BATCHES):

        rule:
            name:
                f"simulate_{_b:05d}"
            input:
                user_confs=[str(p) for s in _sims for p in [ics_stage.user_conf_path(s, config)] if p],
            output:
                batch_outputs(_sims),
            params:
                rows=[sim_row(s) for s in _sims],
                files={s: sim_files(s) for s in _sims},
                redshifts=REDSHIFTS,
                power=power_params(),
                ics=without_threads(config["ics"]),
                cola=without_threads(config["cola"]),
                voxels=without_threads(config["voxels"]),
            log:
                [p for s in _sims for p in batch_logs(s)],
            benchmark:
                f"{RESULTS}/benchmarks/simulate/{_b:05d}.tsv"
            threads: config["sims"]["batch_threads"]
            resources:
                mem_mb=batch_mem_mb(_sims, config["sims"]["batch_threads"]),
                runtime=batch_runtime_min(_sims),
            group:
                "simulation"
            conda:
                "../../envs/simulate.yaml"
            script:
                "../scripts/simulate.py"
