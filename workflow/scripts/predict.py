"""Trained network on the inputs of predict.inputs -> predictions.csv (rule predict).
Command line, inputs and columns: docs/predict.md."""
import sys; sys.stderr = open(snakemake.log[0], "w")  # noqa: E702,F821
import logging
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # noqa: F821  (repo root)
from cosmoflow.predict import Options, run  # noqa: E402

sm = snakemake  # noqa: F821
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
o = sm.params.options
run(Path(sm.input.model).parent, list(sm.params.entries), sm.output[0], manifest=sm.input.manifest,
    options=Options(voxel_size=o["voxel_size"], box=o["box"], positions=o["positions"],
                    redshifts=None if o["redshifts"] is None else tuple(o["redshifts"])),
    batch_size=o["batch_size"], density_tolerance=o["density_tolerance"],
    calibration=sm.input.get("calibration"), combinations=sm.input.get("combinations"))
