"""Preset ``paper``: the CosmoFlow 3D CNN (Mathuriya et al. 2018, section III-A, Fig. 2, Table I).

Topology for 128^3 x 1 inputs (channels last, "valid" = no padding):

=====  ==================  ======  =======  ===========
layer  kernel x filters    stride  padding  output
=====  ==================  ======  =======  ===========
conv1  3^3 x 16            1       valid    126^3 x 16
pool1  avg 2^3             2                63^3 x 16
conv2  4^3 x 32            1       valid    60^3 x 32
pool2  avg 2^3             2                30^3 x 32
conv3  4^3 x 64            1       valid    27^3 x 64
pool3  avg 2^3             2                13^3 x 64
conv4  3^3 x 128           2       valid    6^3 x 128
conv5  2^3 x 256           1       same     6^3 x 256
conv6  2^3 x 256           2       valid    3^3 x 256
conv7  2^3 x 256           1       valid    2^3 x 256
fc1..  dense (config)                       flatten 2048 -> dense -> dense -> n_outputs
=====  ==================  ======  =======  ===========

Other input sizes: the number of conv + pool blocks is ``len(conv_filters) - 4`` (see
``conv_specs``); 64^3 uses 6 filters, i.e. one conv + pool block fewer (as the 64^3
predecessor of Ravanbakhsh et al. 2017), 256^3 uses 8, one more 4^3 conv + pool block.
"""
from __future__ import annotations

from dataclasses import dataclass


#: The paper's four tail convolutions: (kernel, stride, padding, pool after it).
_TAIL = [(3, 2, "valid", False), (2, 1, "same", False), (2, 2, "valid", False),
         (2, 1, "valid", False)]


@dataclass(frozen=True)
class ConvSpec:
    """One Conv3D layer: kernel side, filters, stride, padding and whether a 2^3 avg pool follows."""

    kernel: int
    filters: int
    stride: int
    padding: str
    pool: bool


def recommended_blocks(input_size: int) -> int:
    """Conv + pool blocks that bring ``input_size`` to ~13^3 before the strided tail.

    log2(input_size / 16) rounded down: 128 -> 3 (the paper), 64 -> 2, 256 -> 4, 32 -> 1,
    16 -> 0. Used only to word error messages: the block count is ``len(conv_filters) - 4``.
    """
    n, size = 0, input_size
    while size >= 32:
        n += 1
        size //= 2
    return n


def conv_specs(input_size: int, conv_filters: list[int]) -> list[ConvSpec]:
    """The Conv3D layers for ``input_size`` with the given filter counts (one per layer).

    The last four entries of ``conv_filters`` are the paper's strided / small-kernel tail
    (conv4..conv7); every entry before them is one conv + 2^3 average-pool block (kernel 3
    for the first, 4 for the others). So 7 filters give the paper's network (3 blocks,
    for 128^3), 6 filters suit 64^3 and 8 filters 256^3: each flattens to 2^3 x 256
    = 2048 features (see docs/model.md).
    """
    n_blocks = len(conv_filters) - len(_TAIL)
    if n_blocks < 0:
        raise ValueError(f"model.conv_filters has {len(conv_filters)} entries; need at least "
                         f"{len(_TAIL)} (the strided tail)")
    head = [(3 if i == 0 else 4, 1, "valid", True) for i in range(n_blocks)]
    specs = [ConvSpec(k, int(f), s, p, pool)
             for (k, s, p, pool), f in zip(head + _TAIL, conv_filters)]
    size = input_size
    for i, c in enumerate(specs):
        size = _conv_out(size, c.kernel, c.stride, c.padding)
        if c.pool:
            size //= 2
        if size < 1:
            raise ValueError(
                f"model.input_size={input_size} with {len(conv_filters)} conv_filters: conv{i + 1} "
                f"output would be empty; use {recommended_blocks(input_size) + len(_TAIL)} "
                "conv_filters for this size")
    return specs


def _conv_out(size: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return -(-size // stride)
    return (size - kernel) // stride + 1


def build(x, n_outputs: int, *, conv_filters: list[int],
          dense: list[int], leaky_slope: float, batch_norm: bool, bn_momentum: float,
          dropout: float, pooling: str):
    """The paper's network on the input tensor ``x`` (float32, channels last).

    Parameters
    ----------
    x : Keras tensor [B, S, S, S, C]
        The (standardised) input; S = 128 in the paper, C = 1 (one redshift) or one per redshift.
    n_outputs : int
        Number of predicted (normalised) parameters.
    conv_filters : list of int
        Output channels of each Conv3D layer (paper: 16, 32, 64, 128, 256, 256, 256).
    dense : list of int
        Widths of the hidden fully connected layers (see docs/model.md for the choice).
    leaky_slope : float
        Negative slope of the leaky ReLU after every conv and hidden dense layer (paper: 0.01).
    batch_norm : bool
        Batch normalisation between each conv and its activation (the paper has none).
    dropout : float
        Dropout rate after each hidden dense layer (the paper: 0).
    pooling : str
        "avg" (the paper) or "max" for the 2^3 pools of the conv + pool blocks.

    Returns
    -------
    Keras tensor [B, n_outputs] (linear).
    """
    specs = conv_specs(int(x.shape[1]), conv_filters)
    import keras  # imported here: conv_specs (config checks) must not need TensorFlow

    from cosmoflow.model import blocks

    n_pool = 0
    for i, c in enumerate(specs, start=1):
        pool = None
        if c.pool:
            n_pool += 1
            pool = (pooling, f"pool{n_pool}")
        x = blocks.conv(x, i, c.filters, c.kernel, stride=c.stride, padding=c.padding,
                        batch_norm=batch_norm, bn_momentum=bn_momentum,
                        leaky_slope=leaky_slope, pool=pool)
    x = keras.layers.Flatten(name="flatten")(x)
    x = blocks.dense_head(x, dense, leaky_slope=leaky_slope, dropout=dropout)
    return keras.layers.Dense(int(n_outputs), name="output")(x)


#: Preset defaults (docs/model.md): the paper's network, 7 convs for 128^3 inputs.
DEFAULTS = {"conv_filters": [16, 32, 64, 128, 256, 256, 256], "dense": [2048, 560],
            "batch_norm": False, "bn_momentum": 0.99, "dropout": 0.0, "pooling": "avg"}


def check(input_size: int, conv_filters: list[int], **_) -> None:
    """Raise ValueError (naming the key) if the convs do not fit ``input_size``."""
    conv_specs(input_size, conv_filters)
