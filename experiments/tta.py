"""Test-time symmetry averaging, measured on a validation split (never the test split).

Each sample is fed to the trained network under K of the 48 cube symmetries (the group the
training augmentation draws from) and the K raw outputs are averaged; prints the per-sample and
per-simulation RMSE (physical units) of each label for K = 1 (what evaluate does) and each K
asked for.

    python experiments/tta.py --model results/ablation/runs/R0/model.keras \\
        --manifest results/ablation/data/<key>/val/manifest.json --k 1 8 48
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def outputs_under_symmetries(model_path, manifest, input_norm: str, ks: list[int]):
    """Raw outputs (len(ks), n, L_out), normalised truths and ids for every sample of a split."""
    import tensorflow as tf

    from cosmoflow.data.reader import apply_symmetry, make_dataset, read_manifest
    from cosmoflow.model.power_features import load

    model = load(model_path)
    m = read_manifest(manifest)
    ds = make_dataset(m["path"], shuffle=False, augment=False, input_norm=input_norm,
                      batch_size=16, with_ids=True)
    outs, trues, sims = [], [], []
    for x, y, meta in ds:
        outs.append(np.stack([model(apply_symmetry(x, tf.constant(k), first_axis=1),
                                    training=False).numpy() for k in ks]))
        trues.append(y.numpy())
        sims += [int(s) for s in meta["sim"].numpy()]
    return np.concatenate(outs, axis=1), np.concatenate(trues), np.array(sims), m


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--manifest", required=True, help="a validation split's manifest.json")
    p.add_argument("--input-norm", default="log1p")
    p.add_argument("--k", nargs="+", type=int, default=[1, 8, 48],
                   help="symmetry counts: the first K of the 48 (0 = identity)")
    args = p.parse_args()

    from cosmoflow.data.tfrecord import denormalise_labels
    from cosmoflow.evaluate.bootstrap import simulation_means
    from cosmoflow.model import heads

    kmax = max(args.k)
    out, true, sims, m = outputs_under_symmetries(args.model, args.manifest, args.input_norm,
                                                  list(range(kmax)))
    names = m["label_names"]
    norm = m["label_norm"]
    true_phys = denormalise_labels(true, norm)
    for K in args.k:
        mu, _ = heads.estimates(out[:K].mean(0), norm, len(names))
        per_sample = np.sqrt(((mu - true_phys) ** 2).mean(0))
        pred_sim, true_sim, _ = simulation_means(mu, true_phys, sims)
        per_sim = np.sqrt(((pred_sim - true_sim) ** 2).mean(0))
        print(json.dumps({"K": K, "per_sample": dict(zip(names, np.round(per_sample, 5).tolist())),
                          "per_simulation": dict(zip(names, np.round(per_sim, 5).tolist()))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
