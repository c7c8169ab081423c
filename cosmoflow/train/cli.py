"""``python -m cosmoflow.train``: data-parallel training of the CosmoFlow network.

Launch with the MPI launcher that belongs to the Python running it, e.g. locally::

    .venv/bin/mpiexec -n 2 python -m cosmoflow.train --config config/config.yaml \\
        --train-manifest results/tfrecords/train/manifest.json \\
        --val-manifest results/tfrecords/val/manifest.json --out results/train --ranks 2

``--ranks`` must equal the MPI world size, otherwise every rank exits with status 2.

With ``--runs DIR`` (what the Snakemake rule uses) each run trains in its own folder
``DIR/<id>-<n>/``, the id being a digest of the model, data and train sections and of the input
manifests (``cosmoflow.train.runs``): an unfinished run of the same id is resumed, otherwise a
new one starts from scratch; once finished, its model.keras, label_norm.json and history.csv
are copied to ``--out``. Without ``--runs``, ``--out`` is the run folder itself (``--resume``
continues from its checkpoint).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import yaml

EXIT_WORLD_SIZE = 2
EXIT_ERROR = 1


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m cosmoflow.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="config YAML (sections model, train, data are read)")
    p.add_argument("--config-json", help="JSON object of sections, overriding --config")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config value (YAML-parsed), e.g. train.epochs=3")
    p.add_argument("--train-manifest", help="manifest.json of the training TFRecords")
    p.add_argument("--val-manifest", help="manifest.json of the validation TFRecords")
    p.add_argument("--synthetic", metavar="N_TRAIN:N_VAL",
                   help="train on a synthetic learnable data set instead of TFRecords")
    p.add_argument("--out", required=True, help="output folder (rank 0 writes it)")
    p.add_argument("--ranks", type=int, help="expected MPI world size (default: train.ranks)")
    p.add_argument("--resume", action="store_true",
                   help="continue from <out>/checkpoint/checkpoint.npz if it exists")
    p.add_argument("--runs", metavar="DIR",
                   help="train in DIR/<run id>-<attempt>/ (resumed when unfinished, else a new "
                        "attempt from scratch) and copy the finished run's model.keras, "
                        "label_norm.json and history.csv to --out")
    p.add_argument("--fresh", action="store_true",
                   help="with --runs: start a new attempt even if the newest one of this run "
                        "id is unfinished")
    p.add_argument("--check-sync", action="store_true",
                   help="after every step compare a hash of the weights across ranks")
    p.add_argument("--debug-sigterm-at-step", type=int, default=None,
                   help="the last rank sends itself SIGTERM before this global step (tests)")
    p.add_argument("--log", help="log file (default: stderr)")
    args = p.parse_args(argv)
    if args.runs and args.resume:
        p.error("--resume is implied by --runs (an unfinished run of the same id is resumed)")
    if args.fresh and not args.runs:
        p.error("--fresh needs --runs (without --runs, leave out --resume to start over)")
    return args


def load_config(args: argparse.Namespace) -> dict:
    """Merge --config, --config-json and --set into {"model":..., "train":..., "data":...}."""
    cfg: dict = {}
    if args.config:
        with open(args.config) as fh:
            cfg = yaml.safe_load(fh) or {}
    if args.config_json:
        cfg.update(json.loads(args.config_json))
    for section in ("model", "train", "data"):
        if section not in cfg:
            raise KeyError(f"configuration has no {section!r} section (give --config or "
                           "--config-json)")
    from cosmoflow.config import ConfigError, apply_sets, fill_section_defaults, section_errors

    # schema defaults first (a key the config file leaves out can still be --set)
    cfg.update(fill_section_defaults({k: cfg[k] for k in ("model", "train", "data")}))
    apply_sets(cfg, args.set)
    errs = section_errors({k: cfg[k] for k in ("model", "train", "data")})
    if errs:  # e.g. --set train.lr=2e-4: YAML 1.1 reads that as a string (write 2.0e-4)
        raise ConfigError("invalid training configuration:\n" + "\n".join(f"  {e}" for e in errs))
    return cfg


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_config(args)
    except (KeyError, ValueError, OSError) as err:
        print(f"cosmoflow.train: ERROR: {err}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    train_cfg = cfg["train"]
    expected = args.ranks if args.ranks is not None else int(train_cfg["ranks"])
    train_cfg["ranks"] = expected

    from cosmoflow.train.dist import Dist, WorldSizeError

    try:
        dist = Dist.from_mpi(expected)
    except WorldSizeError as err:
        print(f"cosmoflow.train: ERROR: {err}", file=sys.stderr, flush=True)
        return EXIT_WORLD_SIZE

    handlers = [logging.StreamHandler(sys.stderr)]
    if args.log and dist.rank == 0:
        handlers.append(logging.FileHandler(args.log))
    logging.basicConfig(level=logging.INFO if dist.rank == 0 else logging.WARNING,
                        format=f"%(asctime)s rank{dist.rank} %(levelname)s %(message)s",
                        handlers=handlers, force=True)
    try:
        return _run(args, cfg, dist)
    except Exception as err:  # one rank failing must stop all: no silent hang in a collective
        from cosmoflow.train.loop import StopRequested

        if isinstance(err, StopRequested):
            logging.getLogger("cosmoflow.train").warning("%s", err)
            from cosmoflow.train.loop import EXIT_STOPPED
            return EXIT_STOPPED
        logging.getLogger("cosmoflow.train").exception("rank %d failed: %s", dist.rank, err)
        dist.abort(EXIT_ERROR)
        return EXIT_ERROR


def prepare(args, cfg: dict, dist):
    """Settings, thread pools, data sources and the (seeded) model for this rank.

    Returns (model, model_cfg, settings, train_source, val_source).
    """
    import tensorflow as tf

    from cosmoflow.train.loop import TrainSettings

    settings = TrainSettings.from_config(cfg["train"])
    try:
        tf.config.threading.set_intra_op_parallelism_threads(settings.threads_per_rank)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already initialised in this process (in-process use)
        logging.getLogger("cosmoflow.train").warning("thread pools already fixed; keeping them")
    import keras

    from cosmoflow.model import build_model
    from cosmoflow.train import data as data_mod

    keras.utils.set_random_seed(settings.seed)
    dcfg = cfg["data"]
    common = dict(rank=dist.rank, world_size=dist.size, batch_size=settings.batch_per_rank)
    size = int(cfg["model"]["input_size"])
    if args.synthetic:
        n_train, _, n_val = args.synthetic.partition(":")
        train_src = data_mod.synthetic(int(n_train), size, shuffle=True, seed=int(dcfg["seed"]),
                                       **common)
        val_src = data_mod.synthetic(int(n_val), size, shuffle=False,
                                     seed=int(dcfg["seed"]) + 1, **common)
    else:
        if not (args.train_manifest and args.val_manifest):
            raise ValueError("give --train-manifest and --val-manifest (or --synthetic)")
        train_src = data_mod.from_manifest(args.train_manifest, shuffle=True,
                                           augment=bool(dcfg["augment"]),
                                           input_norm=dcfg["input_norm"], seed=int(dcfg["seed"]),
                                           shuffle_buffer=dcfg.get("shuffle_buffer"), **common)
        val_src = data_mod.from_manifest(args.val_manifest, shuffle=False, augment=False,
                                         input_norm=dcfg["input_norm"], seed=int(dcfg["seed"]),
                                         **common)
    if val_src.n_channels != train_src.n_channels:
        raise ValueError(f"{args.val_manifest}: {val_src.n_channels} input channel(s), "
                         f"{args.train_manifest}: {train_src.n_channels}")
    from cosmoflow.model import resolve

    model_cfg = dict(resolve(cfg["model"]), n_channels=train_src.n_channels)
    stats = {}
    if dcfg["standardize"]:  # per-channel statistics of the training split, inside the model
        if train_src.channel_stats is None:
            raise ValueError(f"data.standardize: {args.train_manifest} has no per-channel input "
                             "statistics (an older dataset): rerun the tfrecords stage")
        stats = dict(zip(("input_mean", "input_std"), train_src.channel_stats))
        logging.getLogger("cosmoflow.train").info(
            "input standardisation (training split, per channel): mean %s, std %s",
            stats["input_mean"], stats["input_std"])
    if model_cfg.get("power_bins") and model_cfg.get("power_into") == "output":
        stats.update(power_statistics(train_src, model_cfg, dcfg["input_norm"]))
    if model_cfg.get("moments"):
        stats.update(moment_statistics(train_src))
    if model_cfg.get("summary_term") is not None:
        from cosmoflow.train import label_shift

        fitted = summary_ridge(train_src, model_cfg["summary_term"], dist)
        stats["summary_ridge"] = fitted.state
        train_src = label_shift.shifted(train_src, fitted.keys, fitted.shift)
    model = build_model(**model_cfg, n_outputs=len(train_src.label_names), **stats,
                        input_norm=dcfg["input_norm"])
    if settings.init_from:
        from cosmoflow.train import warm_start

        skip = ("output",) if model_cfg.get("summary_term") is not None else ()
        copied = warm_start.copy_weights(model, settings.init_from, skip=skip)
        logging.getLogger("cosmoflow.train").info(
            "train.init_from %s: weights of %d layers copied (%s)%s", settings.init_from,
            len(copied), ", ".join(copied), "; output starts at zero" if skip else "")
    return model, model_cfg, settings, train_src, val_src


def power_statistics(train_src, model_cfg: dict, input_norm: str) -> dict:
    """``power_mean`` / ``power_std`` of the power branch's log band powers over every training
    sample."""
    from cosmoflow.model import power_features

    mean, std = whole_split_statistics(
        train_src, lambda batches: power_features.feature_statistics(
            batches, int(model_cfg["power_bins"]), power_features.INVERSES[input_norm]),
        option="model.power_into = 'output'", features="power")
    return {"power_mean": mean, "power_std": std}


def moment_statistics(train_src) -> dict:
    """``moments_mean`` / ``moments_std`` of the moments' branch over every training sample."""
    from cosmoflow.model import moments

    mean, std = whole_split_statistics(train_src, moments.feature_statistics,
                                       option="model.moments", features="moment")
    return {"moments_mean": mean, "moments_std": std}


def summary_ridge(train_src, term_cfg: dict, dist):
    """The summary term fitted by rank 0 on every training sample and broadcast
    (``summary_term.Fitted``: the ridge the model carries and each sample's out-of-fold
    shift), so every rank builds the same term and trains on the same targets whatever the
    number of ranks. ValueError naming ``model.summary_term`` when the data source cannot give
    the whole split with its simulations."""
    from cosmoflow.model import summary_term

    if train_src.make_all is None:
        raise ValueError("model.summary_term needs the whole training split, which this data "
                         "source cannot give")
    fitted = None
    if dist.rank == 0:
        fitted = summary_term.fit(train_src.make_all(with_ids=True), term_cfg)
    return dist.bcast(fitted)


def whole_split_statistics(train_src, statistics, *, option: str, features: str):
    """``statistics(batches)`` over every batch of the whole training split (each rank reads
    all of it, so the result does not depend on the number of ranks), logged with its time;
    ValueError naming ``option`` when the data source cannot give the whole split."""
    if train_src.make_all is None:
        raise ValueError(f"{option} needs statistics over the whole training split, which this "
                         "data source cannot give")
    t0 = time.perf_counter()
    mean, std = statistics(train_src.make_all())
    logging.getLogger("cosmoflow.train").info(
        "%s features' standardisation (training split, %d features): %.1f s",
        features, len(mean), time.perf_counter() - t0)
    return mean, std


def _run(args, cfg: dict, dist) -> int:
    from cosmoflow.train import runs
    from cosmoflow.train.loop import StopRequested, train

    log = logging.getLogger("cosmoflow.train")
    model, model_cfg, settings, train_src, val_src = prepare(args, cfg, dist)
    log.info("%d ranks x batch %d, %d threads/rank, %d parameters, %d training samples, pid %d",
             dist.size, settings.batch_per_rank, settings.threads_per_rank, model.count_params(),
             train_src.n_samples, os.getpid())
    inputs = runs.inputs_of(args.train_manifest, args.val_manifest, args.synthetic)
    if settings.init_from:   # the starting weights are an input of the run
        from cosmoflow.train.warm_start import digest

        inputs["init_from"] = digest(settings.init_from)
    out, resume, run_dir = args.out, args.resume, None
    if args.runs:
        ident = runs.identity(model_cfg, cfg["data"], cfg["train"], inputs)
        choice = None
        if dist.rank == 0:
            path, resume = runs.select(args.runs, runs.run_id(ident), fresh=args.fresh)
            choice = (str(path), resume)
            sources = ({"synthetic": args.synthetic} if args.synthetic else
                       {"train": args.train_manifest, "val": args.val_manifest})
            runs.start(path, ident, cfg, resume=resume, sources=sources, world_size=dist.size)
            handler = logging.FileHandler(path / "train.log")   # appended to on every resume
            handler.setFormatter(logging.getLogger().handlers[0].formatter)
            logging.getLogger().addHandler(handler)
        run_dir, resume = dist.bcast(choice)
        out = run_dir
        log.info("run %s: %s (%s)", Path(run_dir).name, run_dir,
                 "resuming the unfinished attempt" if resume else "from scratch")
    try:
        history = train(model, model_cfg, settings, dist, train_src, val_src, out, resume=resume,
                        check_sync=args.check_sync, sigterm_at_step=args.debug_sigterm_at_step,
                        data={"config": cfg["data"], "inputs": inputs})
    except BaseException as err:
        if run_dir is not None and dist.rank == 0:
            stopped = isinstance(err, (StopRequested, KeyboardInterrupt))
            runs.end(run_dir, "stopped" if stopped else "failed", error=f"{type(err).__name__}: "
                     f"{err}")
        raise
    if run_dir is not None and dist.rank == 0:
        runs.end(run_dir, "finished", history=history)
        runs.publish(run_dir, args.out)
        log.info("run %s finished; %s copied to %s", Path(run_dir).name,
                 ", ".join(runs.PUBLISHED), args.out)
    return 0
