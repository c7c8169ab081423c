"""Layer blocks shared by the network presets (Keras functional API, channels last)."""
from __future__ import annotations


def conv(x, i: int, filters: int, kernel: int, *, stride: int = 1, padding: str = "same",
         batch_norm: bool = False, bn_momentum: float = 0.99, leaky_slope: float = 0.01,
         pool: tuple[str, str] | None = None):
    """Conv3D ``conv{i}`` [-> BatchNormalization ``bn{i}``] -> LeakyReLU ``act{i}`` [-> pool].

    Parameters
    ----------
    x : Keras tensor [B, S, S, S, C].
    i : int  Index in the layer names.
    filters, kernel, stride, padding : the Conv3D's (kernel side in voxels).
    batch_norm : bool  Normalise before the activation; the conv then has no bias (BN's shift
        replaces it).
    bn_momentum : float  Momentum of batch norm's moving statistics (Keras' default 0.99 averages
        over ~100 steps; 0.9 over ~10, which follows a fast-changing network).
    leaky_slope : float  Negative slope of the leaky ReLU.
    pool : (kind, name) or None  A 2^3 stride-2 pool after the activation, kind "avg" or "max".
    """
    from keras import layers

    x = layers.Conv3D(int(filters), int(kernel), strides=int(stride), padding=padding,
                      use_bias=not batch_norm, name=f"conv{i}")(x)
    if batch_norm:
        x = layers.BatchNormalization(momentum=float(bn_momentum), name=f"bn{i}")(x)
    x = layers.LeakyReLU(negative_slope=leaky_slope, name=f"act{i}")(x)
    if pool is not None:
        x = pool_layer(*pool)(x)
    return x


def pool_layer(kind: str, name: str):
    """A 2^3, stride-2 pooling layer: ``kind`` "avg" or "max"."""
    from keras import layers

    if kind == "avg":
        return layers.AveragePooling3D(pool_size=2, strides=2, name=name)
    if kind == "max":
        return layers.MaxPooling3D(pool_size=2, strides=2, name=name)
    raise ValueError(f"model.pooling: got {kind!r}, expected 'avg' or 'max'")


def dense_head(x, widths: list[int], *, leaky_slope: float, dropout: float):
    """Hidden Dense ``fc{j}`` -> LeakyReLU ``fc_act{j}`` [-> Dropout ``fc_drop{j}``] per width."""
    from keras import layers

    for j, width in enumerate(widths, start=1):
        x = layers.Dense(int(width), name=f"fc{j}")(x)
        x = layers.LeakyReLU(negative_slope=leaky_slope, name=f"fc_act{j}")(x)
        if dropout > 0:
            x = layers.Dropout(float(dropout), name=f"fc_drop{j}")(x)
    return x


def fixed_standardization(x, mean, std, *, name: str, what: str):
    """``(x - mean) / std`` along the last axis with fixed statistics (a ``Normalization`` layer
    ``name``, saved with the model). ValueError naming ``what`` unless ``std`` holds one
    positive value per feature of x."""
    import numpy as np
    from keras import layers

    n = int(x.shape[-1])
    sd = np.asarray(std, np.float64)
    if sd.shape != (n,) or np.any(~(sd > 0)):
        raise ValueError(f"{what} {list(np.ravel(sd))}: expected {n} positive values")
    return layers.Normalization(axis=-1, mean=list(map(float, mean)),
                                variance=list(map(float, sd ** 2)), name=name)(x)


def layer_statistics(layer, batches, *, what: str) -> tuple[list[float], list[float]]:
    """Mean and standard deviation of each output feature of ``layer`` ([B, ...] -> [B, F])
    over every sample of ``batches`` (an iterable of ``(x, y)``): the fixed statistics a
    ``fixed_standardization`` of that layer's output is built with, taken from the training
    split. A feature constant over the split gets std 1 (standardising leaves it at zero).
    ValueError naming ``what`` when the batches hold no sample."""
    import numpy as np

    total, square, n = 0.0, 0.0, 0
    for x, _ in batches:
        f = layer(x).numpy().astype(np.float64)
        total, square, n = total + f.sum(0), square + (f ** 2).sum(0), n + len(f)
    if n == 0:
        raise ValueError(f"{what} statistics: the training split holds no sample")
    mean = total / n
    std = np.sqrt(np.maximum(square / n - mean ** 2, 0.0))
    std[~(std > 1e-6 * np.maximum(np.abs(mean), 1.0))] = 1.0
    return mean.tolist(), std.tolist()
