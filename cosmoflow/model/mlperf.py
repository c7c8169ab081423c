"""Preset ``mlperf``: the MLPerf HPC CosmoFlow reference topology (mlcommons/hpc, cosmoflow/).

One block per entry of ``conv_filters``: Conv3D kernel 2^3 "same" -> LeakyReLU -> 2^3 max pool
(the reference: 5 blocks, 32 filters doubling each block); flatten; Dense 128 and 64, each
followed by a leaky ReLU and dropout 0.5; a 1.2 x tanh output, which suits labels scaled to
[-1, 1] (``tfrecords.label_norm: range``). At 128^3 x 4 inputs: 4^3 x 512 flattened features.
"""
from __future__ import annotations

#: Preset defaults (the reference's ``n_conv_layers: 5, conv_size: 32``, dense 128/64, dropout 0.5).
DEFAULTS = {"conv_filters": [32, 64, 128, 256, 512], "dense": [128, 64], "batch_norm": False,
            "bn_momentum": 0.99, "dropout": 0.5, "pooling": "max"}
KERNEL = 2          # conv kernel side (the reference's kernel_size)
OUTPUT_SCALE = 1.2  # tanh output scaled by 1.2 (the reference)


def check(input_size: int, conv_filters: list[int], **_) -> None:
    """Raise ValueError (naming the key) if the pools would empty the sample."""
    if input_size >> len(conv_filters) < 1:
        raise ValueError(f"model.conv_filters: {len(conv_filters)} conv + pool blocks halve "
                         f"model.input_size={input_size} below 1 voxel; use at most "
                         f"{input_size.bit_length() - 1}")


def build(x, n_outputs: int, *, conv_filters: list[int],
          dense: list[int], leaky_slope: float, batch_norm: bool, bn_momentum: float,
          dropout: float, pooling: str):
    """The MLPerf reference network; the output tensor [B, n_outputs] of input ``x``.

    Parameters as ``cosmoflow.model.paper.build``; the output is ``1.2 tanh(Dense(x))``.
    """
    check(int(x.shape[1]), conv_filters)
    import keras

    from cosmoflow.model import blocks

    for i, f in enumerate(conv_filters, start=1):
        x = blocks.conv(x, i, f, KERNEL, batch_norm=batch_norm, bn_momentum=bn_momentum,
                        leaky_slope=leaky_slope,
                        pool=(pooling, f"pool{i}"))
    x = keras.layers.Flatten(name="flatten")(x)
    x = blocks.dense_head(x, dense, leaky_slope=leaky_slope, dropout=dropout)
    x = keras.layers.Dense(int(n_outputs), activation="tanh", name="output_tanh")(x)
    return keras.layers.Rescaling(OUTPUT_SCALE, name="output")(x)
