"""``python -m cosmoflow.predict``: a trained network's estimates on inputs of one's own.

    python -m cosmoflow.predict --run results/train --out predictions.csv results/voxels/00016

Inputs: a pipeline voxel file or a simulation's voxel folder (results/voxels/<sim>), an HDF5
particle snapshot or a folder of them (positions [Mpc/h]; --box, --positions), a .npy count
grid (V, V, V[, C]) (--voxel-size, --redshifts). Every input must have the geometry the network
was trained on (voxel size, sample size, channels, redshifts, particles per voxel): otherwise
the command stops with an error naming the input and the expected value. Output: one CSV row
per sample and per input (docs/predict.md); with --combinations results/evaluate/combinations.json
also the evaluate stage's combinations of the network with the samples' statistics.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EXIT_ERROR = 1


def _floats(text: str) -> tuple[float, ...]:
    """ "0,0.5,1.5" -> (0.0, 0.5, 1.5)."""
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def parse_args(argv=None) -> argparse.Namespace:
    from cosmoflow.predict.core import BATCH_SIZE
    from cosmoflow.predict.stage import DENSITY_TOLERANCE

    p = argparse.ArgumentParser(prog="python -m cosmoflow.predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="voxel file or folder, snapshot file or folder, or .npy grid")
    p.add_argument("--run", required=True,
                   help="trained run: the train stage's output folder (results/train) or a run "
                        "folder (results/train/runs/<id>-<n>)")
    p.add_argument("--out", required=True, help="CSV to write (one row per sample and per input)")
    p.add_argument("--manifest",
                   help="the training split's manifest.json (default: the one the run records)")
    p.add_argument("--voxel-size", type=float, metavar="MPC_H",
                   help="voxel side of .npy grids [Mpc/h]")
    p.add_argument("--box", type=float, metavar="MPC_H",
                   help="box side of snapshots [Mpc/h] (default: their box attribute)")
    p.add_argument("--positions", default="positions", metavar="DATASET",
                   help="snapshot dataset of the particle positions, (N, 3) [Mpc/h] "
                        "(default: %(default)s)")
    p.add_argument("--redshifts", type=_floats, metavar="Z[,Z...]",
                   help="redshift of each channel of .npy grids, comma-separated (0,0.5,1.5,3), "
                        "or of a snapshot file (default for snapshots: their z attribute)")
    p.add_argument("--calibration", metavar="METRICS_JSON",
                   help="evaluate's metrics.json of this network (gaussian head): widths "
                        "calibrated as evaluate's; without it the network's raw widths")
    p.add_argument("--combinations", metavar="COMBINATIONS_JSON",
                   help="evaluate's combinations.json of this network (results/evaluate/): adds "
                        "the network + statistics estimate of every sample (network_stats_*) "
                        "and the network + whole box estimate of every whole box "
                        "(network_box_*), the estimates evaluate reports as ours")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                   help="samples per network call (default: %(default)s, evaluate's)")
    p.add_argument("--density-tolerance", type=float, default=DENSITY_TOLERANCE,
                   help="relative tolerance on the mean count per voxel against the training "
                        "data's (default: %(default)s)")
    args = p.parse_args(argv)
    if args.batch_size < 1:
        p.error(f"--batch-size must be >= 1, got {args.batch_size}")
    if not args.density_tolerance >= 0:
        p.error(f"--density-tolerance must be >= 0, got {args.density_tolerance}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        stream=sys.stderr)
    from cosmoflow.predict import inputs, stage

    options = inputs.Options(voxel_size=args.voxel_size, box=args.box, positions=args.positions,
                             redshifts=args.redshifts)
    try:
        stage.run(args.run, args.inputs, args.out, manifest=args.manifest, options=options,
                  batch_size=args.batch_size, density_tolerance=args.density_tolerance,
                  calibration=args.calibration, combinations=args.combinations)
    except (ValueError, OSError, KeyError) as err:
        print(f"cosmoflow.predict: ERROR: {err}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    return 0
