"""Atomic checkpoints: weights, optimizer state, step/epoch counters, data-order state, history.

One file ``<out>/checkpoint/checkpoint.npz`` (numpy arrays + one JSON string ``meta``),
written to a temporary name in the same folder and renamed with ``os.replace``: a kill
during the write leaves the previous checkpoint intact.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from cosmoflow.io import atomic_path


def checkpoint_path(out_dir: str | os.PathLike) -> Path:
    return Path(out_dir) / "checkpoint" / "checkpoint.npz"


def save_checkpoint(path: str | os.PathLike, weights: list[np.ndarray],
                    opt_state: dict[str, np.ndarray], meta: dict) -> None:
    """Write weights (w0..), optimizer state (opt_*) and ``meta`` (JSON) atomically."""
    arrays = {f"w{i}": np.asarray(w) for i, w in enumerate(weights)}
    arrays.update({f"opt_{k}": np.asarray(v) for k, v in opt_state.items()})
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())


def load_checkpoint(path: str | os.PathLike) -> tuple[list[np.ndarray], dict, dict]:
    """Read ``save_checkpoint`` output: (weights, optimizer state, meta)."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        n_w = sum(1 for k in z.files if k.startswith("w") and k[1:].isdigit())
        weights = [z[f"w{i}"] for i in range(n_w)]
        opt = {k[4:]: z[k] for k in z.files if k.startswith("opt_")}
    return weights, opt, meta


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_path(path, suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_csv(path: str | os.PathLike, rows: list[dict]) -> None:
    """Write rows (dicts with the same keys) as CSV atomically."""
    keys = list(rows[0].keys()) if rows else []
    lines = [",".join(keys)]
    for r in rows:
        lines.append(",".join(_fmt(r[k]) for k in keys))
    with atomic_path(path, suffix=".csv") as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")


def _fmt(v) -> str:
    if isinstance(v, float):
        return repr(v)
    return str(v)
