"""Voxel files of one split -> TFRecord files + manifest.json (rule tfrecords_{split})."""
import sys; sys.stderr = open(snakemake.log[0], "w")  # noqa: E702,F821
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # noqa: F821  (repo root)
from cosmoflow.data.tfrecord import write_split_from_config  # noqa: E402

sm = snakemake  # noqa: F821
m = write_split_from_config(sm.config, sm.params.split, sm.params.splits, list(sm.input),
                            Path(sm.output.manifest).parent)
written, declared = sorted(f["name"] for f in m["files"]), sorted(Path(p).name for p in sm.output.records)
if written != declared:
    raise RuntimeError(f"record files written {written} differ from the rule's outputs {declared}")
print(f"{m['split']}: {m['n_samples']} samples of {m['sample_shape']} in {len(m['files'])} "
      f"files, dtypes {m['dtypes']}, {m['compression']}", file=sys.stderr)
