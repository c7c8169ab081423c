# Stage 3: MUSIC initial conditions per simulation: music.conf (generated, or the user's
# <ics.conf_dir>/<sim>.conf), the CAMB-format transfer table it names, and ics.hdf5 (MUSIC
# "generic" layout + /lpt/psi{1,2}_*), by the builtin generator or a real MUSIC binary.


from cosmoflow import ics as ics_stage


if not BATCHED:  # one job per stage and simulation (sims.batch 1); else workflow/rules/simulate.smk

    rule initial_conditions:
        input:
            # the complete row (with the amplitude CLASS derived): the .conf's sigma_8
            cosmology=f"{RESULTS}/sims/{{sim}}/cosmology.json",
            power=f"{RESULTS}/power/{{sim}}.h5",
            # the user's <ics.conf_dir>/<sim>.conf when there is one: editing it reruns the simulation
            user_conf=lambda w: [str(p) for p in [ics_stage.user_conf_path(w.sim, config)] if p],
        output:
            conf=f"{RESULTS}/sims/{{sim}}/music.conf",
            transfer=f"{RESULTS}/sims/{{sim}}/transfer_camb.txt",
            # ics.keep false: temp(), deleted by Snakemake once the simulation's COLA run has read it
            ics=maybe_temp(f"{RESULTS}/sims/{{sim}}/ics.hdf5", config["ics"]["keep"]),
        log:
            f"{RESULTS}/logs/ics/{{sim}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/ics/{{sim}}.tsv"
        threads: config["ics"]["threads"]
        resources:
            # ~40 bytes per particle + 1 GB (builtin peak 3.6 GB at 512^3; MUSIC 1.53 4.9 GB)
            mem_mb=lambda w: 1000 + 40 * int(sim_row(w.sim)["n_particles"]) ** 3 // 2**20,
            runtime=30,
        group:
            "simulation"
        conda:
            "../../envs/ics.yaml"
        script:
            "../scripts/ics.py"


STAGE_OUTPUTS["ics"] = lambda: expand(
    f"{RESULTS}/sims/{{sim}}/{{name}}", sim=SIMS,
    name=["music.conf"] + (["ics.hdf5"] if config["ics"]["keep"] else []),
) + [f"{RESULTS}/cosmologies.csv"]


rule ics:
    input:
        stage_outputs("ics"),
