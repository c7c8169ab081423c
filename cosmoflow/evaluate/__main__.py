"""python -m cosmoflow.evaluate: evaluate the trained network on the test split."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m cosmoflow.evaluate", description=__doc__)
    p.add_argument("--model", required=True, help="model.keras written by the train stage")
    p.add_argument("--test-manifest", required=True)
    p.add_argument("--train-manifest", required=True, help="training split (for the baselines)")
    p.add_argument("--calibration-manifest", help="the split a gaussian head's widths are "
                   "calibrated on (the calibration split, or validation when there is none)")
    p.add_argument("--history", required=True, help="history.csv written by the train stage")
    p.add_argument("--voxels", nargs="*", default=[], help="voxel files for the P(k) plots")
    p.add_argument("--power", nargs="*", default=[], help="power tables of those simulations")
    p.add_argument("--config", nargs="+", help="config YAML file(s) (default config/config.yaml)")
    p.add_argument("--config-json", help="the config as JSON (what the rule passes)")
    p.add_argument("--out", required=True, help="output folder")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)

    from cosmoflow import config as cfgmod
    from cosmoflow.evaluate.stage import run

    cfg = cfgmod.validate(json.loads(args.config_json)) if args.config_json else cfgmod.load(*(args.config or ()))
    run(model=args.model, test_manifest=args.test_manifest, train_manifest=args.train_manifest,
        history=args.history, voxel_files=args.voxels, power_tables=args.power, config=cfg,
        out_dir=args.out, calibration_manifest=args.calibration_manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
