"""What the validation experiments read of one split (experiments/stack_pk.py,
simulation_candidates.py, summary_parts.py): its samples in record order, their labels and
simulations, the evaluate stage's log P(k) and summary-statistics features, and optionally a
trained network's predictions on them, row for row. Never given the test split by those scripts.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def arguments(doc: str, *, model: bool = True, extra=None) -> argparse.Namespace:
    """The scripts' common command line: [--model], --train, --val, --config, and what
    ``extra(parser)`` adds (a script's own options)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if model:
        p.add_argument("--model", required=True)
    p.add_argument("--train", required=True, help="the training split's manifest.json")
    p.add_argument("--val", required=True, help="a validation split's manifest.json")
    p.add_argument("--config", nargs="+", default=[str(ROOT / "config" / "config.yaml")],
                   help="config files, later ones override earlier ones (as --configfile)")
    if extra is not None:
        extra(p)
    return p.parse_args()


def load(manifest: str, cfg: dict, model: str | None = None) -> dict:
    """{"samples" (stage.iter_samples tuples), "y" (n, L), "g" (n,) simulations, "pk" (n, C
    pk_bins), "stats" (n, F) summary features, "net" (n, L) the model's predictions or None},
    every array in the samples' (record) order; sample side from the config [Mpc/h]."""
    from cosmoflow.data.reader import read_manifest
    from cosmoflow.evaluate import baselines, stage, summaries

    ev, vox = cfg["evaluate"], cfg["voxels"]
    side = float(cfg["simulation"]["box"]) * vox["subvolume"] / vox["n_voxels"]
    samples = list(stage.iter_samples(read_manifest(manifest)))
    cubes = [s[0] for s in samples]
    y = np.array([s[1] for s in samples])
    pk = baselines.pk_features(cubes, side, int(ev["pk_bins"]))
    out = {"samples": samples, "y": y, "g": np.array([s[2] for s in samples]), "pk": pk,
           "stats": summaries.summary_features(cubes, side, int(ev["pk_bins"]),
                                               ev["summary"]["quantiles"], pk=pk),
           "net": None}
    if model is not None:
        pred, true, ids = stage.predict(model, manifest, cfg["data"]["input_norm"])
        out["net"] = np.empty_like(pred)
        out["net"][stage.sample_order(samples, ids, y, true, manifest)] = pred
    return out
