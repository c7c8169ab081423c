"""Per-channel moments of each input sample, fed to the light preset's dense head
(``model.moments``; docs/model.md, "The strongest baseline").

Measured on the default's validation split, a ridge on just the mean and variance of
log(1 + counts) in each of the 4 snapshots (8 numbers per sample) beats the light network on
Omega_M, sigma_8 and n_s: the growth of one realization between redshifts is in how those
change. ``ChannelMoments`` computes them in the graph from the network's input as fed (log1p
counts with ``data.input_norm: log1p``; x / mean otherwise): per channel the mean and the
variance over the sample's voxels, shape ``[B, 2 C]`` (means of every channel, then
variances; dimensionless). ``branch`` standardises them with fixed statistics of the training
split (``feature_statistics``; a ``Normalization`` layer saved with the model), so the head
sees features of unit spread whatever the batch.

Keras is imported lazily: ``layer_class()`` defines and registers the layer on first use.
"""
from __future__ import annotations

import functools


@functools.cache
def layer_class():
    """The ``ChannelMoments`` Keras layer class (defined and registered on the first call)."""
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="cosmoflow")
    class ChannelMoments(keras.layers.Layer):
        """Per-channel mean and variance over the voxels of [B, S, S, S, C] -> [B, 2 C]."""

        def call(self, x):
            x = tf.cast(x, tf.float32)
            mean, var = tf.nn.moments(x, axes=[1, 2, 3])
            return tf.concat([mean, var], axis=-1)

    return ChannelMoments


def feature_statistics(batches) -> tuple[list[float], list[float]]:
    """Mean and standard deviation of each moment over every sample of ``batches`` (an iterable
    of ``(x, y)``, x [B, S, S, S, C] the network's input): what ``branch`` standardises with,
    taken from the training split. A feature constant over the split gets std 1."""
    from cosmoflow.model.blocks import layer_statistics

    return layer_statistics(layer_class()(), batches, what="moment feature")


def branch(x_in, mean, std):
    """The input [B, S, S, S, C] -> its standardised moments [B, 2 C] (layers ``channel_moments``
    and ``channel_moments_std``)."""
    from cosmoflow.model.blocks import fixed_standardization

    m = layer_class()(name="channel_moments")(x_in)
    return fixed_standardization(m, mean, std, name="channel_moments_std", what="moments_std")
