"""In-graph power spectrum of each input sample: ``model.power_bins`` log band powers per channel
fed to the dense head beside the convolutional features (docs/model.md, "The power-spectrum
input").

A sample of 64^3 voxels holds modes down to k = 2 pi / 128 Mpc/h; the light preset's conv stack
sees ~30 voxels (its receptive field) and its global average pooling averages local features,
so the variance of the longest modes in the sample, which the P(k) ridge baseline reads, does
not reach the head. ``ShellPower`` computes, per sample and channel, the shell-averaged power of
the overdensity ``delta = n / mean(n) - 1`` of the counts n (recovered from the network's input:
``expm1`` of ``log1p`` counts, or the ``x / mean`` counts as they are) in ``n_bins`` linear
|k| bins from the fundamental mode to the Nyquist frequency (the bins of
``cosmoflow.evaluate.baselines.shell_power``), and returns their natural logs, shape
``[B, C * n_bins]`` (channel-major). Units: power of delta per mode divided by the number of
voxels (dimensionless; log P in (Mpc/h)^3 differs by the constant log(side^3 / S^3)).

Keras is imported lazily: ``layer_class()`` defines and registers the layer on first use, so
``cosmoflow.model`` stays importable without TensorFlow (config checks); ``load(path)`` is how
every stage loads a saved model.
"""
from __future__ import annotations

import functools

import numpy as np

from cosmoflow.rfft_modes import mode_bands, rfft_modes

#: How each ``data.input_norm`` maps the network's input back to counts (up to a factor).
INVERSES = {"log1p": "expm1", "mean": "identity"}


def shell_bins(size: int, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Each rfft mode's |k| bin and weight, for the mean power per bin of a size^3 cube.

    Bins are linear in |k| from the fundamental to the Nyquist frequency (those of
    ``baselines.shell_power``); Hermitian pairs count twice (as ``baselines.band_power``).

    Returns
    -------
    bins : (size * size * (size // 2 + 1),) int32, the bin of each mode (n_bins: in no bin).
    weights : same shape, float32, the mode's weight divided by its bin's total (0 outside).

    Raises ValueError naming ``model.power_bins`` when a bin holds no mode.
    """
    edges = np.linspace(1.0, size / 2.0, n_bins + 1)   # in units of the fundamental mode
    bins, weight, total = mode_bands(*rfft_modes(size), edges)
    if np.any(total == 0):
        raise ValueError(f"model.power_bins = {n_bins}: bin(s) {np.flatnonzero(total == 0).tolist()} "
                         f"of a {size}^3 sample hold no mode; use fewer bins")
    norm = np.append(1.0 / total, 0.0)
    return bins.astype(np.int32), (weight * norm[bins]).astype(np.float32)


@functools.cache
def layer_class():
    """The ``ShellPower`` Keras layer class (defined and registered on the first call)."""
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="cosmoflow")
    class ShellPower(keras.layers.Layer):
        """log shell-averaged power per channel of [B, S, S, S, C] inputs -> [B, C n_bins]."""

        def __init__(self, n_bins: int, inverse: str = "expm1", **kwargs):
            super().__init__(**kwargs)
            if inverse not in INVERSES.values():
                raise ValueError(f"inverse: got {inverse!r}, expected one of {sorted(INVERSES.values())}")
            self.n_bins = int(n_bins)
            self.inverse = inverse

        def build(self, input_shape):
            size = int(input_shape[1])
            self._channels = int(input_shape[-1])
            bins, weights = shell_bins(size, self.n_bins)
            self._bins = tf.constant(bins)
            self._weights = tf.constant(weights)

        def call(self, x):
            x = tf.cast(x, tf.float32)
            counts = tf.math.expm1(x) if self.inverse == "expm1" else x
            mean = tf.reduce_mean(counts, axis=[1, 2, 3], keepdims=True)
            delta = counts / tf.maximum(mean, 1e-12) - 1.0
            delta = tf.transpose(delta, [0, 4, 1, 2, 3])            # B, C, S, S, S
            size = tf.cast(tf.shape(delta)[2], tf.float32)
            power = tf.math.square(tf.math.abs(tf.signal.rfft3d(delta))) / size ** 3
            b = tf.shape(power)[0]
            power = tf.transpose(tf.reshape(power, [b, self._channels, -1]), [2, 0, 1])  # M, B, C
            pk = tf.math.unsorted_segment_sum(power * self._weights[:, None, None], self._bins,
                                              self.n_bins + 1)[:self.n_bins]      # bins, B, C
            pk = tf.transpose(pk, [1, 2, 0])                          # B, C, bins
            return tf.reshape(tf.math.log(pk + 1e-30), [b, self._channels * self.n_bins])

        def compute_output_shape(self, input_shape):
            return (input_shape[0], int(input_shape[-1]) * self.n_bins)

        def get_config(self):
            return {**super().get_config(), "n_bins": self.n_bins, "inverse": self.inverse}

    return ShellPower


#: Where the log band powers go (``model.power_into``): beside the pooled conv features into the
#: dense head (batch-normalised), or through a linear map added to the network's output.
DESTINATIONS = ("head", "output")


def linear_path(pk, n_outputs: int, mean, std):
    """log band powers [B, F] -> a linear term [B, n_outputs] for the network's output.

    The features are standardised with fixed statistics of the training split (``mean``,
    ``std``: F floats each, a ``Normalization`` layer ``shell_power_std`` saved with the model)
    and mapped by ``power_linear``, a Dense layer initialised at zero, so training starts from
    the conv network alone and the ridge-like term grows where it lowers the loss.
    """
    import keras

    from cosmoflow.model.blocks import fixed_standardization

    z = fixed_standardization(pk, mean, std, name="shell_power_std", what="power_std")
    return keras.layers.Dense(int(n_outputs), kernel_initializer="zeros", name="power_linear")(z)


def feature_statistics(batches, n_bins: int, inverse: str) -> tuple[list[float], list[float]]:
    """Mean and standard deviation of each log band power over every sample of ``batches``
    (an iterable of ``(x, y)`` with x [B, S, S, S, C], the network's input): what
    ``linear_path`` standardises with, taken from the training split.

    A feature constant over the split gets std 1 (standardising leaves it at zero).
    """
    from cosmoflow.model.blocks import layer_statistics

    return layer_statistics(layer_class()(int(n_bins), inverse), batches, what="power feature")


def load(path):
    """``keras.models.load_model(path, compile=False)`` with this module's layer,
    ``cosmoflow.model.moments``', ``cosmoflow.model.global_pooling``'s and
    ``cosmoflow.model.summary_term``'s registered."""
    import keras

    from cosmoflow.model import global_pooling, moments, summary_term

    layer_class()
    moments.layer_class()
    global_pooling.layer_class()
    summary_term.layer_class()
    summary_term.ridge_class()
    return keras.models.load_model(path, compile=False)
