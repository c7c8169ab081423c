"""Derive voxel files for the ablations from existing ones: coarser voxels (sum of 2^3 blocks,
identical to histogramming at half the resolution since the bin edges align) and/or another
sub-volume side.

    python experiments/derive_voxels.py SRC DST --rebin 2 --subvolume 32
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from cosmoflow.data.voxels import read_voxels, write_voxels

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--rebin", type=int, default=1, help="merge rebin^3 voxels into one")
    p.add_argument("--subvolume", type=int, required=True, help="sub-volume side after rebinning")
    args = p.parse_args()
    for f in sorted(Path(args.src).glob("*/z*.h5")):
        out = Path(args.dst) / f.parent.name / f.name
        if out.exists():
            continue
        counts, attrs = read_voxels(f)
        r = args.rebin
        if r > 1:
            V = counts.shape[0] // r
            counts = counts.reshape(V, r, V, r, V, r).sum(axis=(1, 3, 5))
        attrs = dict(attrs, n_voxels=counts.shape[0], subvolume=args.subvolume)
        write_voxels(out, counts, attrs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
