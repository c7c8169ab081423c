"""``python -m cosmoflow.data inspect DIR``: manifest summary, counts per split, checksums.

DIR is a split folder (holding manifest.json) or the tfrecords root holding split folders.
Exit status 1 if a manifest is missing/invalid, a checksum or size differs, or a simulation
appears in two splits.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cosmoflow.data.reader import ManifestError, read_manifest
from cosmoflow.data.tfrecord import check_disjoint_splits, sha256_file


def inspect(directory: str | Path, verify: bool = True, out=sys.stdout) -> int:
    """Print the summary of every split under ``directory``; return the number of problems."""
    d = Path(directory)
    dirs = [d] if (d / "manifest.json").exists() else sorted(
        p for p in d.iterdir() if p.is_dir()) if d.is_dir() else []
    if not dirs:
        print(f"{d}: no manifest.json here or in sub-folders", file=out)
        return 1
    problems, sims = 0, {}
    for sd in dirs:
        try:
            m = read_manifest(sd)
        except ManifestError as err:
            print(f"[{sd.name}] INVALID: {err}", file=out)
            problems += 1
            continue
        split = m.get("split", sd.name)
        sims[split] = m.get("sims", [])
        st = m["input_stats"]
        size = sum(f["bytes"] for f in m["files"])
        print(f"[{split}] {m['n_samples']} samples in {len(m['files'])} file(s), "
              f"{size / 1e6:.2f} MB ({size / max(m['n_samples'], 1) / 1e6:.3f} MB/sample), "
              f"sample {'x'.join(map(str, m['sample_shape']))}, {m['compression']}, "
              f"dtypes {{{', '.join(f'{k}: {v}' for k, v in m['dtypes'].items() if v)}}}", file=out)
        print(f"    sims {len(sims[split])}: {' '.join(sims[split][:12])}"
              f"{' ...' if len(sims[split]) > 12 else ''}; redshifts {m.get('redshifts')}", file=out)
        ln = m["label_norm"]
        print(f"    labels {m['label_names']}, norm {ln['kind']} (offset {ln['offset']}, "
              f"scale {[round(s, 6) for s in ln['scale']]})", file=out)
        print(f"    input: mean count {st['mean_count']:.4g}, max {st['max_count']}, "
              f"log1p mean {st['log1p_mean']:.4f} std {st['log1p_std']:.4f}", file=out)
        if verify:
            bad = 0
            for f in m["files"]:
                p = Path(m["dir"]) / f["name"]
                if not p.is_file():
                    msg = "missing"
                elif p.stat().st_size != f["bytes"]:
                    msg = f"size {p.stat().st_size} != {f['bytes']}"
                elif sha256_file(p) != f["sha256"]:
                    msg = "sha256 differs"
                else:
                    continue
                bad += 1
                print(f"    BAD {p}: {msg}", file=out)
            print(f"    checksums: {len(m['files']) - bad}/{len(m['files'])} ok", file=out)
            problems += bad
    try:
        check_disjoint_splits(sims)
        if len(sims) > 1:
            print(f"splits disjoint: {', '.join(f'{k} {len(v)} sims' for k, v in sims.items())}",
                  file=out)
    except ValueError as err:
        print(f"ERROR: {err}", file=out)
        problems += 1
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cosmoflow.data", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("inspect", help="manifest summary, counts per split, checksums")
    p.add_argument("dir", help="tfrecords folder or one split's folder")
    p.add_argument("--no-verify", action="store_true", help="skip the sha256 checks")
    args = ap.parse_args(argv)
    return 1 if inspect(args.dir, verify=not args.no_verify) else 0


if __name__ == "__main__":
    sys.exit(main())
