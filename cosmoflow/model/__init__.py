"""The estimator networks: ``build_model(**config["model"], n_outputs=..., n_channels=...)``.

Each preset is one module with ``DEFAULTS`` (its conv filters, dense widths, batch norm,
dropout and pooling), ``check(input_size, conv_filters)`` (config-time, no TensorFlow) and
``build(x, n_outputs, **options)``; a ``null`` option in the config takes the preset's default.
"""
from __future__ import annotations

from cosmoflow.model import heads, light, mlperf, paper
from cosmoflow.model.paper import ConvSpec, conv_specs, recommended_blocks
from cosmoflow.model.summary import PAPER_TABLE_I, layer_table, train_flops

PRESETS = {"paper": paper, "mlperf": mlperf, "light": light}
OPTIONS = ("conv_filters", "dense", "batch_norm", "bn_momentum", "dropout", "pooling")

__all__ = ["PRESETS", "ConvSpec", "build_model", "resolve", "check_model", "check_power_bins",
           "check_power_into",
           "conv_specs", "recommended_blocks", "layer_table", "train_flops", "PAPER_TABLE_I"]


def resolve(model_cfg: dict) -> dict:
    """The ``model`` config section with the preset's defaults in place of absent / null options.

    Raises ValueError naming ``model.preset`` for an unknown preset.
    """
    name = model_cfg.get("preset", "paper")
    if name not in PRESETS:
        raise ValueError(f"model.preset: got {name!r}, expected one of {sorted(PRESETS)}")
    out = dict(model_cfg, preset=name)
    for key in OPTIONS:
        if out.get(key) is None:
            out[key] = PRESETS[name].DEFAULTS[key]
    return out


def check_model(model_cfg: dict) -> None:
    """Config-time check that the preset's layers fit ``model.input_size`` (no TensorFlow)."""
    cfg = resolve(model_cfg)
    heads.check(cfg.get("head"))
    check_power_bins(cfg)
    PRESETS[cfg["preset"]].check(int(cfg["input_size"]), list(cfg["conv_filters"]))


def check_power_bins(model_cfg: dict) -> None:
    """Raise ValueError naming ``model.power_bins`` unless it is 0 / absent or the preset is
    light (the one whose head takes the power branch), naming ``model.power_into`` unless it
    is a destination, and one that needs the branch only with the branch on, naming
    ``model.moments`` when it is on for another preset than light, naming
    ``model.global_pooling`` unless it is a kind and, other than "mean", for the light preset,
    or naming ``model.summary_term`` when it is given for another preset than light."""
    n = model_cfg.get("power_bins") or 0
    if check_power_into(model_cfg.get("power_into")) == "output" and not n:
        raise ValueError("model.power_into = 'output': the power branch is off (model.power_bins "
                         "absent or 0); give model.power_bins > 0")
    if n and model_cfg.get("preset", "paper") != "light":
        raise ValueError(f"model.power_bins = {n}: only the light preset takes the power-spectrum "
                         f"input (model.preset is {model_cfg.get('preset', 'paper')!r}); use 0")
    if model_cfg.get("moments") and model_cfg.get("preset", "paper") != "light":
        raise ValueError(f"model.moments = true: only the light preset takes the moments' branch "
                         f"(model.preset is {model_cfg.get('preset', 'paper')!r}); use false")
    from cosmoflow.model import global_pooling

    kind = global_pooling.check(model_cfg.get("global_pooling"))
    if kind != "mean" and model_cfg.get("preset", "paper") != "light":
        raise ValueError(f"model.global_pooling = {kind!r}: only the light preset pools globally "
                         f"(model.preset is {model_cfg.get('preset', 'paper')!r}); leave it out")
    if model_cfg.get("summary_term") is not None and model_cfg.get("preset", "paper") != "light":
        raise ValueError(f"model.summary_term: only the light preset takes the summary term "
                         f"(model.preset is {model_cfg.get('preset', 'paper')!r}); leave it out")
    if n and model_cfg.get("input_size"):
        from cosmoflow.model.power_features import shell_bins

        shell_bins(int(model_cfg["input_size"]), int(n))   # every bin holds a mode


def check_power_into(power_into: str | None) -> str:
    """The power branch's destination ("head" for None); ValueError naming ``model.power_into``."""
    from cosmoflow.model.power_features import DESTINATIONS

    name = "head" if power_into is None else power_into
    if name not in DESTINATIONS:
        raise ValueError(f"model.power_into: got {power_into!r}, expected one of {list(DESTINATIONS)}")
    return name


def build_model(input_size: int, conv_filters: list[int] | None = None,
                dense: list[int] | None = None, leaky_slope: float = 0.01, n_outputs: int = 3,
                n_channels: int = 1, *, preset: str = "paper", batch_norm: bool | None = None,
                bn_momentum: float | None = None, dropout: float | None = None,
                pooling: str | None = None, head: str | None = None,
                input_mean=None, input_std=None, power_bins: int | None = None,
                power_into: str | None = None, power_mean=None, power_std=None,
                moments: bool = False, moments_mean=None, moments_std=None,
                global_pooling: str | None = None, summary_term: dict | None = None,
                summary_ridge: dict | None = None,
                input_norm: str = "log1p") -> "keras.Model":
    """Build a preset network (uncompiled Keras model, float32, channels last).

    Parameters
    ----------
    input_size : int
        Voxels per side of one cubic sample.
    conv_filters, dense, batch_norm, bn_momentum, dropout, pooling :
        The preset's options (None: its default; see each preset module and docs/model.md).
    leaky_slope : float
        Negative slope of the leaky ReLUs.
    n_outputs : int
        Number of predicted (normalised) parameters (labels).
    n_channels : int
        Input channels (1, or one per redshift with ``tfrecords.redshift_channels``).
    preset : str
        "paper" (default: the SC18 network), "mlperf" or "light".
    head : str, optional
        "point" (None: one output per label) or "gaussian" (a mean and a log-variance per
        label, cosmoflow.model.heads).
    input_mean, input_std : sequence of n_channels floats, optional
        Per-channel standardisation of the (log1p or mean-normalised) input, computed on the
        training split: a fixed ``Normalization`` layer ``standardize`` first in the model, so
        the saved model carries it.
    power_bins : int, optional
        > 0: the log power spectrum of each sample in this many |k| bins per channel
        (cosmoflow.model.power_features, computed from the un-standardised input and batch
        normalised) joins the conv features before the dense head; light preset only.
    power_into : str, optional
        Where the power branch goes: "head" (None: the above) or "output" (standardised by
        ``power_mean`` / ``power_std``, the training split's statistics of the C * power_bins
        features, then a linear map added to the network's output:
        ``power_features.linear_path``).
    moments : bool
        True: the per-channel mean and variance of each sample's input
        (cosmoflow.model.moments), standardised by ``moments_mean`` / ``moments_std`` (the
        training split's statistics of the 2 n_channels features), join the conv features
        (and the power branch, if any) before the dense head; light preset only.
    global_pooling : str, optional
        How the last conv block is pooled: "mean" (None: global average pooling) or
        "mean_std" (each feature's mean and standard deviation over the positions,
        cosmoflow.model.global_pooling); light preset only.
    summary_term : dict, optional
        ``model.summary_term`` (cosmoflow.model.summary_term): the fitted ridge
        ``summary_ridge`` (a ``RidgePk.state()`` of the training split's summary statistics)
        on the sample's in-graph summary statistics is added to the output, whose layer
        then starts at zero (the network starts as the ridge); light preset only.
    input_norm : str
        ``data.input_norm`` of the inputs ("log1p" or "mean"): how the power branch recovers
        the counts; unused without it.

    Returns
    -------
    keras.Model
        Input ``[B, S, S, S, n_channels]`` named ``counts``, output ``[B, n_outputs]`` (point
        head) or ``[B, 2 n_outputs]`` (gaussian: means, then log-variances).
    """
    cfg = resolve({"preset": preset, "conv_filters": conv_filters, "dense": dense,
                   "batch_norm": batch_norm, "bn_momentum": bn_momentum, "dropout": dropout,
                   "pooling": pooling})
    import keras

    from cosmoflow.model import blocks

    x_in = keras.Input(shape=(input_size, input_size, input_size, int(n_channels)), name="counts")
    x = x_in
    if input_mean is not None:
        x = blocks.fixed_standardization(x, input_mean, input_std, name="standardize",
                                         what="input_std")
    extra, linear = {}, None
    if power_bins:
        check_power_bins({"preset": cfg["preset"], "power_bins": power_bins})
        from cosmoflow.model import power_features

        pk = power_features.layer_class()(int(power_bins), power_features.INVERSES[input_norm],
                                          name="shell_power")(x_in)
        if check_power_into(power_into) == "head":
            extra["extra"] = keras.layers.BatchNormalization(momentum=float(cfg["bn_momentum"]),
                                                             name="shell_power_bn")(pk)
        else:
            if power_mean is None:
                raise ValueError("model.power_into = 'output' needs the training split's power "
                                 "feature statistics (power_mean, power_std)")
            linear = power_features.linear_path(pk, heads.n_outputs(head, n_outputs),
                                                power_mean, power_std)
    if moments:
        check_power_bins({"preset": cfg["preset"], "moments": True})
        if moments_mean is None:
            raise ValueError("model.moments needs the training split's moment statistics "
                             "(moments_mean, moments_std)")
        from cosmoflow.model import moments as moments_mod

        m = moments_mod.branch(x_in, moments_mean, moments_std)
        extra["extra"] = (keras.layers.Concatenate(name="extra_features")([extra["extra"], m])
                          if "extra" in extra else m)
    if global_pooling not in (None, "mean"):
        check_power_bins({"preset": cfg["preset"], "global_pooling": global_pooling})
        extra["global_pooling"] = global_pooling
    fixed = None
    if summary_term is not None:
        from cosmoflow.model import summary_term as term_mod

        check_power_bins({"preset": cfg["preset"], "summary_term": summary_term})
        term_mod.check(summary_term, input_norm=input_norm)
        if summary_ridge is None:
            raise ValueError("model.summary_term needs the ridge fitted on the training split "
                             "(summary_ridge)")
        fixed = term_mod.term(x_in, summary_term, summary_ridge, heads.n_outputs(head, n_outputs))
        extra["zero_output"] = True
    y = PRESETS[cfg["preset"]].build(x, heads.n_outputs(head, n_outputs), **extra,
                                     conv_filters=list(cfg["conv_filters"]),
                                     dense=list(cfg["dense"]), leaky_slope=float(leaky_slope),
                                     batch_norm=bool(cfg["batch_norm"]),
                                     bn_momentum=float(cfg["bn_momentum"]),
                                     dropout=float(cfg["dropout"]), pooling=cfg["pooling"])
    if linear is not None:
        y = keras.layers.Add(name="with_power_linear")([y, linear])
    if fixed is not None:
        y = keras.layers.Add(name="with_summary_term")([y, fixed])
    return keras.Model(x_in, y, name=f"cosmoflow_{cfg['preset']}")
