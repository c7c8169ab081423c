"""Training runs identified by what determines them, each in its own folder (``--runs DIR``).

A run's **id** is 12 hex digits of the sha256 of its identity: the resolved ``model`` section,
the ``data`` section, the ``train`` section less ``threads_per_rank`` and ``mpi`` (thread counts
and the launcher do not change the results) and a digest of each input manifest. Any change to
one of these is another id, hence a run from scratch.

Folders: ``<runs>/<id>-<n>/`` is attempt ``n`` of that id (``checkpoint/``, ``history.csv``,
``tensorboard/``, ``model.keras``, ``label_norm.json``, ``train.log``, ``config.yaml`` = the
sections it ran with, ``run.json`` = identity + status). Which attempt a start uses:

* the newest attempt of the id is not ``finished`` (killed by SIGKILL, stopped by SIGTERM at a
  time limit, failed): it is resumed from its last checkpoint;
* it is ``finished``, or there is none, or ``fresh``: a new attempt ``n + 1`` starts from
  scratch. A finished run is never resumed, so ``snakemake --forcerun train`` retrains.

A finished run's files are then copied to the published outputs (``--out``), ``<runs>/latest``
is pointed at it and ``<runs>/runs.csv`` (one row per attempt, rebuilt from the ``run.json``
files at every status change) lists every run.
"""
from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io
import json
import os
import re
import shutil
import socket
from pathlib import Path

import yaml

from cosmoflow.io import atomic_path

#: ``train`` keys that do not change what is learned: not part of a run's identity.
NOT_IDENTITY = ("threads_per_rank", "mpi")
#: Files a finished run publishes to ``--out`` (what the Snakemake rule declares).
PUBLISHED = ("model.keras", "label_norm.json", "history.csv")
STATUSES = ("running", "stopped", "failed", "finished")
INDEX_COLUMNS = ("folder", "id", "attempt", "status", "started", "ended", "epochs_done", "epochs",
                 "best_epoch", "best_val_loss", "ranks", "batch_per_rank", "optimizer", "lr",
                 "preset", "input_size", "train_data", "val_data")


def now() -> str:
    """Local time, ISO 8601 to the second, with its UTC offset."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


def manifest_digest(path: str | os.PathLike) -> str:
    """sha256 of a TFRecords manifest's content less its ``config`` record.

    The manifest holds each record file's sha256, the sample count and shape, the label
    normalisation and the input statistics: any change of the data changes the digest. Its
    ``config`` (a copy of the whole pipeline config, thread counts included) and the folder it
    lies in do not enter.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    m = json.loads(path.read_text())
    return _digest({k: v for k, v in m.items() if k != "config"})


def inputs_of(train_manifest: str | None, val_manifest: str | None,
              synthetic: str | None = None) -> dict:
    """What the training reads, as digests: ``{"train": sha256, "val": sha256}`` of the two
    manifests, or ``{"synthetic": "N_TRAIN:N_VAL"}``."""
    if synthetic:
        return {"synthetic": synthetic}
    return {"train": manifest_digest(train_manifest), "val": manifest_digest(val_manifest)}


def identity(model_cfg: dict, data_cfg: dict, train_cfg: dict, inputs: dict) -> dict:
    """Everything a run's results depend on (see the module docstring)."""
    return {"model": dict(model_cfg), "data": dict(data_cfg),
            "train": {k: v for k, v in train_cfg.items() if k not in NOT_IDENTITY},
            "inputs": dict(inputs)}


def run_id(ident: dict) -> str:
    """12 hex digits of the sha256 of ``ident`` (keys sorted: the order does not matter)."""
    return _digest(ident)[:12]


def attempts(runs_dir: str | os.PathLike, rid: str) -> list[Path]:
    """The folders ``<runs>/<rid>-<n>`` that exist, by attempt number."""
    pat = re.compile(re.escape(rid) + r"-(\d+)")
    found = [(int(m.group(1)), p) for p in Path(runs_dir).glob(f"{rid}-*")
             if p.is_dir() and (m := pat.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


def read_run(run_dir: str | os.PathLike) -> dict:
    """``run.json`` of a run folder; ``{}`` when it has none (killed before writing it)."""
    p = Path(run_dir) / "run.json"
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        return {}


def select(runs_dir: str | os.PathLike, rid: str, fresh: bool = False) -> tuple[Path, bool]:
    """The folder to train in and whether to resume there (see the module docstring).

    Returns
    -------
    run_dir : ``<runs>/<rid>-<n>``
    resume : True for the newest attempt when it is not finished (and not ``fresh``)
    """
    existing = attempts(runs_dir, rid)
    if existing and not fresh and read_run(existing[-1]).get("status") != "finished":
        return existing[-1], True
    n = int(existing[-1].name.rsplit("-", 1)[1]) + 1 if existing else 1
    return Path(runs_dir) / f"{rid}-{n}", False


def _write_json(path: Path, obj) -> None:
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")


def start(run_dir: str | os.PathLike, ident: dict, cfg: dict, *, resume: bool,
          sources: dict, world_size: int) -> dict:
    """Record that training starts (or resumes) in ``run_dir``: ``run.json`` with status
    ``running``, ``config.yaml`` (the ``model``, ``data`` and ``train`` sections as given, a
    valid ``--configfile`` layer), then the index. ``sources``: where the inputs were read
    (manifest paths). Returns the run record."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rec = read_run(run_dir) if resume else {}
    rid, _, n = run_dir.name.rpartition("-")
    t = now()
    if rec:
        rec.setdefault("resumed", []).append(t)
    else:
        rec = {"id": rid, "attempt": int(n), "started": t, "resumed": [], "identity": ident}
    rec.update(status="running", ended=None, error=None, host=socket.gethostname(),
               world_size=world_size, sources=sources)
    _write_json(run_dir / "run.json", rec)
    with atomic_path(run_dir / "config.yaml") as tmp:
        tmp.write_text(yaml.safe_dump({k: cfg[k] for k in ("model", "data", "train")},
                                      sort_keys=False))
    write_index(run_dir.parent)
    return rec


def end(run_dir: str | os.PathLike, status: str, *, history: list[dict] | None = None,
        error: str | None = None) -> dict:
    """Set the status of a run (``stopped``, ``failed`` or ``finished``) and rebuild the index."""
    if status not in STATUSES:
        raise ValueError(f"status: got {status!r}, expected one of {STATUSES}")
    run_dir = Path(run_dir)
    rec = read_run(run_dir)
    rec.update(status=status, ended=now(), error=error)
    if history:
        best = min(history, key=lambda r: r["val_loss"])
        rec.update(epochs_done=len(history), best_epoch=int(best["epoch"]),
                   best_val_loss=float(best["val_loss"]))
    _write_json(run_dir / "run.json", rec)
    write_index(run_dir.parent)
    return rec


def publish(run_dir: str | os.PathLike, out_dir: str | os.PathLike) -> None:
    """Copy a finished run's ``PUBLISHED`` files to ``out_dir`` (each one atomically) and
    point ``<runs>/latest`` at the run."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    for name in PUBLISHED:
        with atomic_path(out_dir / name) as tmp:
            shutil.copyfile(run_dir / name, tmp)
    link = run_dir.parent / "latest"
    tmp = run_dir.parent / f".tmp-latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(run_dir.name, tmp)   # relative: the runs folder may be moved or copied
    os.replace(tmp, link)


def index_row(rec: dict, folder: str) -> dict:
    """One runs.csv row: status, times, results and a summary of the config."""
    ident = rec.get("identity", {})
    tr, mo, inp = ident.get("train", {}), ident.get("model", {}), ident.get("inputs", {})
    row = {"folder": folder, "id": rec.get("id", folder.rpartition("-")[0]),
           "attempt": rec.get("attempt", ""), "status": rec.get("status", "unknown"),
           "started": rec.get("started", ""), "ended": rec.get("ended") or "",
           "epochs_done": rec.get("epochs_done", ""), "epochs": tr.get("epochs", ""),
           "best_epoch": rec.get("best_epoch", ""), "best_val_loss": rec.get("best_val_loss", ""),
           "ranks": tr.get("ranks", ""), "batch_per_rank": tr.get("batch_per_rank", ""),
           "optimizer": tr.get("optimizer", ""), "lr": tr.get("lr", ""),
           "preset": mo.get("preset", ""), "input_size": mo.get("input_size", "")}
    for split in ("train", "val"):   # the first digits of the manifest digests
        row[f"{split}_data"] = str(inp.get(split, inp.get("synthetic", "")))[:12]
    return row


def write_index(runs_dir: str | os.PathLike) -> Path:
    """Rebuild ``<runs>/runs.csv`` from every run folder's ``run.json`` (by start time)."""
    runs_dir = Path(runs_dir)
    rows = [index_row(read_run(p), p.name) for p in runs_dir.iterdir()
            if p.is_dir() and not p.is_symlink() and re.fullmatch(r"[0-9a-f]{12}-\d+", p.name)]
    rows.sort(key=lambda r: (r["started"], r["folder"]))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=INDEX_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path = runs_dir / "runs.csv"
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue())
    return path
