# Stage 3: MUSIC initial conditions per simulation: music.conf (generated, or the user's
# <ics.conf_dir>/<sim>.conf), the CAMB-format transfer table it names, and ics.hdf5 (MUSIC
# "generic" layout + /lpt/psi{1,2}_*), by the builtin generator or a real MUSIC binary.


def ics_user_conf(wildcards):
    """The user's .conf of this simulation when ics.conf_dir holds one (reruns when it changes)."""
    conf_dir = config["ics"].get("conf_dir")
    path = Path(conf_dir) / f"{wildcards.sim}.conf" if conf_dir else None
    return [str(path)] if path is not None and path.is_file() else []


def ics_mem_mb(wildcards):
    """Peak memory: ~40 bytes per particle (builtin, float32) + 1 GB; MUSIC needs ~37 bytes/particle."""
    n = int(sim_row(wildcards.sim)["n_particles"])
    return 1000 + 40 * n**3 // 2**20


rule initial_conditions:
    input:
        power=f"{RESULTS}/power/{{sim}}.h5",
        user_conf=ics_user_conf,
    output:
        conf=f"{RESULTS}/sims/{{sim}}/music.conf",
        transfer=f"{RESULTS}/sims/{{sim}}/transfer_camb.txt",
        ics=f"{RESULTS}/sims/{{sim}}/ics.hdf5",
    params:
        row=lambda w: sim_row(w.sim),
    log:
        f"{RESULTS}/logs/ics/{{sim}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ics/{{sim}}.tsv"
    threads: config["ics"]["threads"]
    resources:
        mem_mb=ics_mem_mb,
        runtime=30,
    group:
        "simulation"
    conda:
        "../../envs/ics.yaml"
    script:
        "../scripts/ics.py"


STAGE_OUTPUTS["ics"] = lambda: expand(f"{RESULTS}/sims/{{sim}}/ics.hdf5", sim=SIMS)


rule ics:
    input:
        stage_outputs("ics"),
