"""Preset ``light``: a small 3D CNN for 32^3-64^3 samples (batch norm, max pooling, global
average pooling), the kind of network that learns Omega_M and sigma_8 from 32^3 cubes of
2 Mpc/h voxels on a workstation (../docs/model.md, "Presets").

One block per entry of ``conv_filters``: Conv3D 3^3 "same" without bias -> BatchNormalization
-> LeakyReLU, a 2^3 max pool after every block but the last; global average pooling (or, with
``model.global_pooling: mean_std``, the features' mean and spread: ``global_pooling``); the
hidden Dense layers (leaky ReLU, dropout); a linear output.
"""
from __future__ import annotations

#: Preset defaults: 16-32-64-128 filters, one hidden Dense of 64, dropout 0.2.
DEFAULTS = {"conv_filters": [16, 32, 64, 128], "dense": [64], "batch_norm": True,
            "bn_momentum": 0.9, "dropout": 0.2, "pooling": "max"}
KERNEL = 3  # conv kernel side


def check(input_size: int, conv_filters: list[int], **_) -> None:
    """Raise ValueError (naming the key) if the pools would empty the sample."""
    if input_size >> (len(conv_filters) - 1) < 1:
        raise ValueError(f"model.conv_filters: {len(conv_filters) - 1} pools halve "
                         f"model.input_size={input_size} below 1 voxel")


def build(x, n_outputs: int, *, conv_filters: list[int],
          dense: list[int], leaky_slope: float, batch_norm: bool, bn_momentum: float,
          dropout: float, pooling: str, extra=None, global_pooling: str | None = None,
          zero_output: bool = False):
    """The light network; the output tensor [B, n_outputs] of input ``x``.

    Parameters as ``cosmoflow.model.paper.build``; ``extra`` (optional [B, F] tensor: the
    power-spectrum branch, the moments' branch, or both) is concatenated to the pooled conv
    features before the dense head; ``global_pooling`` ("mean" for None, or "mean_std") is how
    the last block is pooled (``cosmoflow.model.global_pooling``); ``zero_output`` starts the
    output layer at zero (a fixed term added after it is then the untrained model's output:
    ``model.summary_term``).
    """
    check(int(x.shape[1]), conv_filters)
    import keras

    from cosmoflow.model import blocks, global_pooling as gp

    last = len(conv_filters)
    for i, f in enumerate(conv_filters, start=1):
        x = blocks.conv(x, i, f, KERNEL, batch_norm=batch_norm, bn_momentum=bn_momentum,
                        leaky_slope=leaky_slope,
                        pool=None if i == last else (pooling, f"pool{i}"))
    x = gp.pool(x, global_pooling)
    if extra is not None:
        x = keras.layers.Concatenate(name="with_power")([x, extra])
    x = blocks.dense_head(x, dense, leaky_slope=leaky_slope, dropout=dropout)
    init = "zeros" if zero_output else "glorot_uniform"
    return keras.layers.Dense(int(n_outputs), kernel_initializer=init, name="output")(x)
