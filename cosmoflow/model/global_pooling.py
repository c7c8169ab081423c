"""How the light preset pools its last conv block over the sample (``model.global_pooling``).

``mean`` (absent: the default): global average pooling, one number per feature map [B, F].
``mean_std``: the per-feature mean and standard deviation over the last block's positions,
[B, 2 F] (means, then standard deviations; "statistics pooling"). The mean of a local feature
reads what varies within its receptive field (~76 Mpc/h for the light preset's four blocks);
its spread over the sample's positions reads how that feature fluctuates on the larger scales
between them, the part of the power a mean cannot see (docs/model.md, "Statistics pooling").

Keras is imported lazily: ``layer_class()`` defines and registers the layer on first use.
"""
from __future__ import annotations

import functools

#: The choices of ``model.global_pooling``; the first is the default (the key absent).
KINDS = ("mean", "mean_std")


@functools.cache
def layer_class():
    """The ``GlobalMeanStd`` Keras layer class (defined and registered on the first call)."""
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="cosmoflow")
    class GlobalMeanStd(keras.layers.Layer):
        """Per-channel mean and standard deviation over the positions of [B, S, S, S, F] ->
        [B, 2 F]; the variance floored at 1e-6 before the square root (a finite gradient
        for a constant map)."""

        def call(self, x):
            mean, var = tf.nn.moments(x, axes=[1, 2, 3])
            return tf.concat([mean, tf.sqrt(var + 1e-6)], axis=-1)

    return GlobalMeanStd


def check(kind: str | None) -> str:
    """The pooling kind ("mean" for None); ValueError naming ``model.global_pooling`` else."""
    name = KINDS[0] if kind is None else kind
    if name not in KINDS:
        raise ValueError(f"model.global_pooling: got {kind!r}, expected one of {list(KINDS)}")
    return name


def pool(x, kind: str | None):
    """The last conv block's output [B, S, S, S, F] pooled by ``kind`` (layer ``global_pool``)."""
    import keras

    if check(kind) == "mean":
        return keras.layers.GlobalAveragePooling3D(name="global_pool")(x)
    return layer_class()(name="global_pool")(x)
