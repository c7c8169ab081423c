"""Synchronous data-parallel training loop (paper Algorithm 2) with checkpoints and logs.

Per step, on every rank: local gradients of this rank's batch (one ``tf.function``,
flattened in the graph into one float32 vector followed by the local loss sum and sample
count), two control flags appended (stop requested by SIGTERM, data exhausted), ONE
in-place ``MPI_Allreduce`` (sum) of that contiguous buffer, then the averaged gradients are
applied by ``AdamLARC`` (a second ``tf.function``). Every rank applies bit-identical
summed gradients to bit-identical weights, so the replicas never drift (checked with
``check_sync``). The stop flag travels in the same buffer, so all ranks stop after the
same step even if the signal reaches them at different times.
"""
from __future__ import annotations

import hashlib
import json
import logging
import signal
import time
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path

import numpy as np
import tensorflow as tf

from cosmoflow.model import heads
from cosmoflow.train import losses
from cosmoflow.train.bn_recalibrate import recalibrate
from cosmoflow.train.checkpoint import (atomic_path, checkpoint_path, load_checkpoint,
                                        save_checkpoint, write_csv, write_json)
from cosmoflow.train.data import DataSource
from cosmoflow.train.dist import Dist
from cosmoflow.train.optim import learning_rate, make_optimizer

log = logging.getLogger("cosmoflow.train")

#: Exit status after a SIGTERM-triggered checkpoint (128 + SIGTERM, as a killed process).
EXIT_STOPPED = 128 + signal.SIGTERM


@dataclass(frozen=True)
class TrainSettings:
    """The ``train`` section of config/config.yaml (see the schema for meanings and bounds)."""

    ranks: int
    threads_per_rank: int
    mpi: str
    epochs: int
    batch_per_rank: int
    lr: float
    lr_min: float
    decay_epochs: int
    larc_eta: float
    larc_fallback: float
    adam_beta1: float
    adam_beta2: float
    adam_epsilon: float
    jit_compile: bool
    seed: int
    optimizer: str
    schedule: str
    warmup_epochs: float
    weight_decay: float
    momentum: float
    grad_clip: float
    select: str
    bn_recalibrate: int = 0
    nll_beta: float = 0.5
    init_from: str | None = None

    @classmethod
    def from_config(cls, section: dict) -> "TrainSettings":
        names = {f.name for f in fields(cls)}
        unknown = set(section) - names
        missing = {f.name for f in fields(cls) if f.default is MISSING} - set(section)
        if unknown:
            raise KeyError(f"config train: unknown key(s) {sorted(unknown)}; valid: {sorted(names)}")
        if missing:
            raise KeyError(f"config train: missing key(s) {sorted(missing)}")
        s = cls(**section)
        if s.epochs < 1 or s.batch_per_rank < 1 or s.decay_epochs < 1 or s.ranks < 1:
            raise ValueError(f"config train: epochs, batch_per_rank, decay_epochs and ranks must "
                             f"be >= 1 (got {section})")
        if s.bn_recalibrate < 0:
            raise ValueError(f"config train.bn_recalibrate: got {s.bn_recalibrate}, expected >= 0")
        if not 0.0 <= s.nll_beta <= 1.0:
            raise ValueError(f"config train.nll_beta: got {s.nll_beta}, expected in [0, 1]")
        if s.select not in ("best", "last"):
            raise ValueError(f"config train.select: got {s.select!r}, expected 'best' or 'last'")
        return s

    def lr_at(self, step: int, steps_per_epoch: int) -> float:
        """Learning rate of global step ``step`` (warm-up, then the decay ``schedule``)."""
        return learning_rate(step, kind=self.schedule, lr=self.lr, lr_min=self.lr_min,
                             decay_steps=self.decay_epochs * steps_per_epoch,
                             warmup_steps=round(self.warmup_epochs * steps_per_epoch))


class StopRequested(Exception):
    """SIGTERM arrived: a checkpoint was written; rerun with --resume."""


class _SignalFlag:
    def __init__(self):
        self.raised = False

    def __call__(self, signum, frame):
        self.raised = True


def _weights_digest(variables) -> str:
    h = hashlib.sha256()
    for w in variables:
        h.update(np.ascontiguousarray(w.numpy()).tobytes())
    return h.hexdigest()


class Trainer:
    """Owns the model replica, the optimizer, the step functions and the flat buffer."""

    def __init__(self, model, settings: TrainSettings, dist: Dist, n_labels: int,
                 head: str | None = None):
        self.model = model
        # the head's loss (cosmoflow.train.losses); validation scores the plain NLL
        self.loss = losses.for_head(head, settings.nll_beta)
        self.val_loss = losses.for_head(head, validation=True)
        self.s = settings
        self.dist = dist
        self.vars = model.trainable_variables
        self.opt = make_optimizer(settings, self.vars)
        # batch-norm moving statistics: updated by each rank from its own batches, averaged
        # over ranks before they are used (validation, checkpoints, export); the moving
        # average is linear, so averaging at those points equals averaging every step
        self.stats = [w for w in model.non_trainable_weights
                      if w.path.endswith(("moving_mean", "moving_variance"))]
        # dropout random streams: checkpointed so that a resumed run draws the same masks
        self.rng_states = [layer.seed_generator.state for layer in model.layers
                           if getattr(layer, "seed_generator", None) is not None]
        self.n = self.opt.n_params
        self.n_labels = n_labels
        # [gradients (n) | loss sum | sample count | stop flag | error flag]
        self.buf = np.zeros(self.n + 4, dtype=np.float32)
        jit = bool(settings.jit_compile)
        self._grad = tf.function(self._grad_flat, jit_compile=jit)
        self._eval = tf.function(self._eval_batch, jit_compile=jit)
        self._fused = tf.function(self._fused_step, jit_compile=jit)

    # -- graph functions -------------------------------------------------------------
    def _grad_flat(self, x, y):
        with tf.GradientTape() as tape:
            pred = self.model(x, training=True)
            loss = self.loss(pred, y)
        grads = tape.gradient(loss, self.vars)
        b = tf.cast(tf.shape(x)[0], tf.float32)
        return tf.concat([tf.reshape(g, [-1]) for g in grads]
                         + [tf.reshape(loss * b, [1]), tf.reshape(b, [1])], 0)

    def _fused_step(self, x, y, lr):
        """One rank alone: gradient and update in one graph, no host round trip (as Keras
        fit); returns [loss sum, sample count]."""
        flat = self._grad_flat(x, y)
        self.opt._apply_flat(flat, lr, tf.constant(1.0))
        return flat[self.n:]

    def _eval_batch(self, x, y):
        pred = self.model(x, training=False)
        b = tf.cast(tf.shape(x)[0], tf.float32)
        err = heads.split(pred, self.n_labels)[0] - y
        return (self.val_loss(pred, y) * b,
                b, tf.reduce_sum(tf.abs(err), axis=0),
                tf.reduce_sum(tf.square(err), axis=0))

    # -- steps -----------------------------------------------------------------------
    def sync_stats(self) -> None:
        """Average the batch-norm moving statistics over ranks (no-op without batch norm)."""
        if not self.stats or self.dist.size == 1:
            return
        flat = np.concatenate([np.ravel(w.numpy()) for w in self.stats]).astype(np.float64)
        self.dist.allreduce_inplace(flat)
        flat /= self.dist.size
        pos = 0
        for w in self.stats:
            n = int(np.prod(w.shape))
            w.assign(flat[pos:pos + n].reshape(w.shape).astype(np.float32))
            pos += n

    def get_state(self) -> dict[str, np.ndarray]:
        """Optimizer state plus the dropout random streams (checkpoint arrays)."""
        state = self.opt.get_state()
        state.update({f"rng{i}": s.numpy() for i, s in enumerate(self.rng_states)})
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.opt.set_state(state)
        for i, s in enumerate(self.rng_states):
            s.assign(state[f"rng{i}"])

    def broadcast_weights(self) -> None:
        """Rank 0's weights to every rank (paper section V-A)."""
        ws = self.dist.broadcast_arrays([w.numpy() for w in self.model.weights])
        for var, w in zip(self.model.weights, ws):
            var.assign(w)

    def step(self, batch, lr: float, stop: bool) -> tuple[float, float, bool]:
        """One synchronous step. Returns (global loss sum, global sample count, stop)."""
        if self.dist.size == 1 and batch is not None:
            loss_sum, count = self._fused(*batch, tf.constant(lr, tf.float32)).numpy()
            return float(loss_sum), float(count), stop
        buf = self.buf
        if batch is None:  # this rank has no data left: tell everybody, apply nothing
            buf[:] = 0.0
            buf[-1] = 1.0
        else:
            flat = self._grad(*batch)
            np.copyto(buf[: self.n + 2], flat.numpy())
            buf[-1] = 0.0
        buf[-2] = 1.0 if stop else 0.0
        self.dist.allreduce_inplace(buf)
        if buf[-1] > 0:
            raise RuntimeError(
                f"rank {self.dist.rank}: {int(buf[-1])} rank(s) ran out of training batches "
                "before the end of the epoch: every rank needs n_samples // (ranks x "
                "batch_per_rank) batches")
        # the buffer holds SUMS over ranks: scale 1 / size averages them
        self.opt.apply_flat(buf[: self.n], lr, scale=1.0 / self.dist.size)
        return float(buf[self.n]), float(buf[self.n + 1]), bool(buf[-2] > 0)

    def validate(self, source: DataSource, epoch: int) -> tuple[float, np.ndarray, np.ndarray]:
        """Validation loss, per-label MAE and RMSE (normalised units), over all ranks."""
        L = self.n_labels
        acc = np.zeros(2 + 2 * L, dtype=np.float64)
        for x, y in source.make(epoch):
            sse, cnt, mae, se = self._eval(x, y)
            acc[0] += float(sse)
            acc[1] += float(cnt)
            acc[2:2 + L] += mae.numpy()
            acc[2 + L:] += se.numpy()
        if self.dist.comm is not None and self.dist.size > 1:
            from mpi4py import MPI
            self.dist.comm.Allreduce(MPI.IN_PLACE, acc, op=MPI.SUM)
        if acc[1] == 0:
            raise RuntimeError("validation data set yielded no samples on any rank")
        return float(acc[0] / acc[1]), acc[2:2 + L] / acc[1], np.sqrt(acc[2 + L:] / acc[1])


def fingerprint(model_cfg: dict, s: TrainSettings, dist: Dist, n_train: int,
                data: dict | None = None) -> dict:
    """What a checkpoint must agree with to be resumed (epochs may grow): the model, the train
    settings, world size, training-set size and ``data`` (the data section and the input
    manifests' digests, see cosmoflow.train.runs; the CLI always passes it)."""
    keep = {k: v for k, v in asdict(s).items()
            if k not in ("epochs", "threads_per_rank", "mpi", "jit_compile")}
    if not keep["bn_recalibrate"]:   # off: checkpoints made before the option still resume
        del keep["bn_recalibrate"]
    if keep["init_from"] is None:    # the same
        del keep["init_from"]
    if heads.check(model_cfg.get("head")) == "point":   # the NLL's beta does not apply
        del keep["nll_beta"]
    fp = {"model": model_cfg, "train": keep, "world_size": dist.size, "n_train": n_train}
    if data is not None:
        fp["data"] = data
    return fp


def train(model, model_cfg: dict, settings: TrainSettings, dist: Dist, train_src: DataSource,
          val_src: DataSource, out_dir: str | Path, *, resume: bool = False,
          check_sync: bool = False, sigterm_at_step: int | None = None,
          data: dict | None = None) -> list[dict]:
    """Train ``model`` data-parallel; return the per-epoch history (identical on all ranks).

    Rank 0 alone writes ``out_dir``: ``history.csv``, ``tensorboard/``, ``checkpoint/`` (every
    epoch and on SIGTERM), and at the end ``model.keras`` + ``label_norm.json``.

    Raises
    ------
    StopRequested
        After SIGTERM (on any rank): the checkpoint of the current step is written.

    ``data`` (what the data are, see ``fingerprint``) must match the checkpoint's to resume.
    """
    out_dir = Path(out_dir)
    s = settings
    gb = dist.size * s.batch_per_rank
    steps_per_epoch = train_src.n_samples // gb
    if steps_per_epoch < 1:
        raise ValueError(f"training set has {train_src.n_samples} samples, fewer than one global "
                         f"batch of ranks x batch_per_rank = {gb}")
    trainer = Trainer(model, s, dist, len(train_src.label_names), model_cfg.get("head"))
    fp = fingerprint(model_cfg, s, dist, train_src.n_samples, data)
    ckpt = checkpoint_path(out_dir)
    writer = None
    if dist.rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        writer = tf.summary.create_file_writer(str(out_dir / "tensorboard"))

    # -- initial state: fresh (broadcast from rank 0) or resumed -------------------------
    state = None
    if resume and dist.rank == 0 and ckpt.exists():
        state = load_checkpoint(ckpt)
        if state[2]["fingerprint"] != json.loads(json.dumps(fp)):
            raise ValueError(f"{ckpt}: checkpoint was written with a different configuration "
                             f"({state[2]['fingerprint']}) than this run ({fp}); delete "
                             f"{ckpt.parent} to start over")
    state = dist.bcast(state)
    if state is not None:
        weights, opt_state, meta = state
        for var, w in zip(model.weights, weights):
            var.assign(w)
        trainer.set_state(opt_state)
        meta.setdefault("best_epoch", 0)
        meta.setdefault("best_val_loss", None)
        log.info("resumed from %s: epoch %d, step %d (%d into the epoch)", ckpt, meta["epoch"],
                 meta["step"], meta["step_in_epoch"])
    else:
        trainer.broadcast_weights()
        meta = {"epoch": 0, "step": 0, "step_in_epoch": 0, "loss_sum": 0.0, "count": 0.0,
                "train_seconds": 0.0, "allreduce_seconds": 0.0, "history": [],
                "sync_checked_steps": 0, "best_epoch": 0, "best_val_loss": None}
        if resume:
            log.info("--resume: no checkpoint at %s, starting from scratch", ckpt)
    meta["fingerprint"] = fp
    meta["data_order"] = {"seed": s.seed, "rule": "source.make(epoch) then skip(step_in_epoch)"}

    def write_checkpoint() -> None:
        if dist.rank == 0:
            save_checkpoint(ckpt, [w.numpy() for w in model.weights], trainer.get_state(), meta)

    flag = _SignalFlag()
    previous = signal.signal(signal.SIGTERM, flag)
    try:
        for epoch in range(meta["epoch"], s.epochs):
            ds = train_src.make(epoch)
            if meta["step_in_epoch"]:
                ds = ds.skip(meta["step_in_epoch"])
            it = iter(ds)
            ar0 = dist.allreduce_seconds
            t0 = time.perf_counter()
            lr = s.lr_at(meta["step"], steps_per_epoch)
            while meta["step_in_epoch"] < steps_per_epoch:
                batch = next(it, None)
                lr = s.lr_at(meta["step"], steps_per_epoch)
                if sigterm_at_step is not None and meta["step"] == sigterm_at_step \
                        and dist.rank == dist.size - 1:
                    signal.raise_signal(signal.SIGTERM)
                loss_sum, count, stop = trainer.step(batch, lr, flag.raised)
                meta["step"] += 1
                meta["step_in_epoch"] += 1
                meta["loss_sum"] += loss_sum
                meta["count"] += count
                if check_sync:
                    _check_identical(dist, trainer.vars, f"step {meta['step']}")
                    meta["sync_checked_steps"] += 1
                if stop:
                    meta["train_seconds"] += time.perf_counter() - t0
                    meta["allreduce_seconds"] += dist.allreduce_seconds - ar0
                    trainer.sync_stats()
                    write_checkpoint()
                    raise StopRequested(f"SIGTERM: stopped after step {meta['step']} (epoch "
                                        f"{epoch + 1}); checkpoint {ckpt}; rerun with --resume")
            meta["train_seconds"] += time.perf_counter() - t0
            meta["allreduce_seconds"] += dist.allreduce_seconds - ar0
            if s.bn_recalibrate:   # exact moving statistics of this epoch's weights
                recalibrate(model, train_src.make(epoch), s.bn_recalibrate)
            trainer.sync_stats()
            if check_sync:  # every weight, batch-norm statistics included
                _check_identical(dist, model.weights, f"epoch {epoch + 1}")
            val_loss, mae, rmse = trainer.validate(val_src, epoch)
            row = {"epoch": epoch + 1, "step": meta["step"],
                   "loss": meta["loss_sum"] / meta["count"], "val_loss": val_loss, "lr": lr,
                   "samples_per_s": meta["count"] / meta["train_seconds"],
                   "allreduce_ms_per_step": 1e3 * meta["allreduce_seconds"] / steps_per_epoch}
            row.update({f"val_mae_{n}": float(m) for n, m in zip(val_src.label_names, mae)})
            scale = val_src.label_norm.get("scale")  # y = offset + scale * y_norm (reader)
            if scale is not None and len(scale) == len(mae):
                row.update({f"val_mae_phys_{n}": float(m * abs(sc)) for n, m, sc
                            in zip(val_src.label_names, mae, scale)})
                row.update({f"val_rmse_phys_{n}": float(r * abs(sc)) for n, r, sc
                            in zip(val_src.label_names, rmse, scale)})
            meta["history"].append(row)
            if meta["best_val_loss"] is None or val_loss < meta["best_val_loss"]:
                meta.update(best_epoch=epoch + 1, best_val_loss=val_loss)
                if dist.rank == 0:  # before the checkpoint that records it
                    save_weights(best_path(out_dir), model)
            meta.update(epoch=epoch + 1, step_in_epoch=0, loss_sum=0.0, count=0.0,
                        train_seconds=0.0, allreduce_seconds=0.0)
            if dist.rank == 0:
                log.info("epoch %d: %s", epoch + 1,
                         ", ".join(f"{k}={v:.6g}" for k, v in row.items()))
                write_csv(out_dir / "history.csv", meta["history"])
                write_scalars(writer, row, step=epoch + 1)
            write_checkpoint()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if check_sync and dist.rank == 0:
        log.info("weights identical on all %d ranks after each of %d checked steps",
                 dist.size, meta["sync_checked_steps"])
    if dist.rank == 0:
        if s.select == "best" and meta["best_epoch"] != meta["epoch"]:
            for var, w in zip(model.weights, load_weights(best_path(out_dir))):
                var.assign(w)
        log.info("model.keras: weights of epoch %d (train.select %s; best validation loss "
                 "%.6g at epoch %d)", meta["best_epoch"] if s.select == "best" else meta["epoch"],
                 s.select, meta["best_val_loss"], meta["best_epoch"])
        export_model(model, out_dir / "model.keras")
        write_json(out_dir / "label_norm.json",
                   {"label_names": val_src.label_names, "label_norm": val_src.label_norm})
    dist.barrier()
    return meta["history"]


def _check_identical(dist: Dist, variables, when: str) -> None:
    """Raise if ``variables`` differ between ranks (a hash of their bytes, allgathered)."""
    digests = dist.allgather(_weights_digest(variables))
    if len(set(digests)) != 1:
        raise RuntimeError(f"weights differ between ranks after {when}: {digests}")


def best_path(out_dir: Path) -> Path:
    """Weights of the epoch with the lowest validation loss so far."""
    return checkpoint_path(out_dir).parent / "best.npz"


def save_weights(path: Path, model) -> None:
    """The model's weights as w0.. arrays of one .npz, written atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **{f"w{i}": w.numpy() for i, w in enumerate(model.weights)})


def load_weights(path: Path) -> list[np.ndarray]:
    with np.load(path) as z:
        return [z[f"w{i}"] for i in range(len(z.files))]


def write_scalars(writer, row: dict, step: int) -> None:
    """Write ``row`` as TensorBoard scalars (the scalars plugin format, written with the core
    ``tf.summary.write`` op so that the ``tensorboard`` package is not needed to write)."""
    from tensorflow.core.framework import summary_pb2

    md = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
        data_class=summary_pb2.DATA_CLASS_SCALAR).SerializeToString()
    with writer.as_default(step=step):
        for k, v in row.items():
            if k != "epoch":
                tf.summary.write(tag=k, tensor=tf.constant(float(v), tf.float32), metadata=md)
    writer.flush()


def export_model(model, path: Path) -> None:
    """Save ``model`` in the Keras format atomically (temporary ``.keras`` then rename)."""
    with atomic_path(path, suffix=".keras") as tmp:
        Path(tmp).unlink(missing_ok=True)
        model.save(tmp)
