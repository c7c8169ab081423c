"""The summary-statistics ridge as a fixed term of the network's output
(``model.summary_term``, light preset; docs/model.md, "The summary term").

The strongest baseline of the evaluate stage is a ridge on each sample's summary statistics:
log P(k) of every channel and the one-point distribution of x = log(1 + counts)
(``cosmoflow.evaluate.summaries``). With ``model.summary_term`` the network's estimate is that
ridge's plus the conv network's: the ridge is fitted on the training split before training
(penalty per label by cross-validation over folds of whole training simulations, as the
baseline's), frozen into the model, and the conv network, whose output layer starts at zero,
learns what the statistics miss. It learns it from training labels shifted by each sample's
out-of-fold ridge estimate minus the full ridge's (``Fitted.shift``, applied by
``cosmoflow.train.label_shift``): the residual the ridge leaves on simulations it was not
fitted to, i.e. on new data, not the smaller one on its own training samples. The saved
``model.keras`` carries both; evaluate and predict use it as any other model.

``SampleSummary`` computes the features in the graph from the network's input as fed
(log1p counts, before ``standardize``), per sample, shape ``[B, C (n_bins + 5 + Q)]``: the log
band powers of every channel (``power_features.ShellPower``: power of the overdensity per mode
over the number of voxels, the baseline's bins; the baseline's log P in (Mpc/h)^3 differs by a
constant), then per channel the mean, variance, skewness, excess kurtosis and the Q quantiles
of x (numpy's linear interpolation) and the fraction of empty voxels (x = 0): the features of
``summaries.summary_features`` in its order. ``SummaryRidge`` is the fitted ridge
(``cosmoflow.ridge.RidgePk``'s kept columns, standardisation and coefficients as constants):
``[B, F] -> [B, n_outputs]``, the estimates of the L labels (normalised label units) then
zeros for a gaussian head's log-variances.

Keras is imported lazily: ``layer_class()`` / ``ridge_class()`` define and register the layers
on first use.
"""
from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass

import numpy as np

#: One-point features per channel besides the quantiles: mean, variance, skewness, excess
#: kurtosis, empty fraction.
N_MOMENTS = 5


def check(term: dict | None, *, input_norm: str = "log1p") -> dict | None:
    """``model.summary_term`` (None: off) against ``data.input_norm``: ValueError naming both
    unless the inputs are log1p counts (the one-point features are of log(1 + counts)). The
    schema checks the section's keys, the preset check is ``cosmoflow.model.check_power_bins``'s.
    """
    if term is not None and input_norm != "log1p":
        raise ValueError(f"model.summary_term: the one-point features are of log(1 + counts); "
                         f"data.input_norm is {input_norm!r}, expected 'log1p'")
    return term


def n_features(n_channels: int, pk_bins: int, quantiles) -> int:
    """Width of ``SampleSummary``'s output."""
    return int(n_channels) * (int(pk_bins) + N_MOMENTS + len(quantiles))


@functools.cache
def layer_class():
    """The ``SampleSummary`` Keras layer class (defined and registered on the first call)."""
    import keras
    import tensorflow as tf

    from cosmoflow.model import power_features

    @keras.saving.register_keras_serializable(package="cosmoflow")
    class SampleSummary(keras.layers.Layer):
        """Log band powers and one-point statistics of log1p counts [B, S, S, S, C] ->
        [B, C (n_bins + 5 + Q)] (dimensionless). The inputs must be log(1 + integer counts):
        the one-point statistics come from the histogram of the rounded counts
        (``fit`` checks the training split)."""

        def __init__(self, n_bins: int, quantiles, **kwargs):
            super().__init__(**kwargs)
            self.n_bins = int(n_bins)
            self.quantiles = [float(v) for v in quantiles]
            self._power = power_features.layer_class()(self.n_bins, "expm1")

        def build(self, input_shape):
            n = int(np.prod(input_shape[1:4]))
            h = (n - 1) * np.asarray(self.quantiles, np.float64)
            lo = np.floor(h)
            self._n = float(n)
            self._lo = tf.constant(lo.astype(np.int32))
            self._hi = tf.constant(np.minimum(lo + 1, n - 1).astype(np.int32))
            self._frac = tf.constant((h - lo).astype(np.float32))
            self._power.build(input_shape)

        def call(self, x):
            x = tf.cast(x, tf.float32)
            pk = self._power(x)
            b, c = tf.shape(x)[0], x.shape[-1]
            # the counts' histogram per sample and channel: every one-point statistic of
            # x = log1p(counts) from it, exactly (as summaries.one_point_features does)
            counts = tf.cast(tf.round(tf.math.expm1(x)), tf.int32)
            counts = tf.reshape(tf.transpose(counts, [0, 4, 1, 2, 3]), [b * c, -1])   # BC, N
            m = tf.reduce_max(counts) + 1
            ids = counts + tf.range(b * c)[:, None] * m
            hist = tf.reshape(tf.math.bincount(tf.reshape(ids, [-1]), minlength=b * c * m,
                                               maxlength=b * c * m), [b, c, m])
            w = tf.cast(hist, tf.float32) / self._n                          # B, C, M
            xs = tf.math.log1p(tf.cast(tf.range(m), tf.float32))             # M
            mean = tf.reduce_sum(w * xs, axis=-1)
            d = xs - mean[..., None]
            d2 = d * d
            var = tf.reduce_sum(w * d2, axis=-1)
            safe = tf.where(var > 0, var, tf.ones_like(var))
            skew = tf.where(var > 0, tf.reduce_sum(w * d2 * d, axis=-1) / safe ** 1.5, 0.0)
            kurt = tf.where(var > 0, tf.reduce_sum(w * d2 * d2, axis=-1) / safe ** 2 - 3.0, 0.0)
            # order statistic j is log1p(k) for the first count k with cumsum(hist)[k] > j
            cum = tf.cumsum(hist, axis=-1)
            shape = tf.stack([b, c, tf.size(self._lo)])
            k_lo = tf.searchsorted(cum, tf.broadcast_to(self._lo, shape), side="right")
            k_hi = tf.searchsorted(cum, tf.broadcast_to(self._hi, shape), side="right")
            x_lo = tf.math.log1p(tf.cast(k_lo, tf.float32))
            x_hi = tf.math.log1p(tf.cast(k_hi, tf.float32))
            q = x_lo + self._frac * (x_hi - x_lo)                            # B, C, Q
            one = tf.concat([tf.stack([mean, var, skew, kurt], -1), q, w[..., :1]], -1)
            return tf.concat([pk, tf.reshape(one, [b, -1])], axis=-1)

        def compute_output_shape(self, input_shape):
            return (input_shape[0], n_features(input_shape[-1], self.n_bins, self.quantiles))

        def get_config(self):
            return {**super().get_config(), "n_bins": self.n_bins, "quantiles": self.quantiles}

    return SampleSummary


@functools.cache
def ridge_class():
    """The ``SummaryRidge`` Keras layer class (defined and registered on the first call)."""
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="cosmoflow")
    class SummaryRidge(keras.layers.Layer):
        """A fitted ridge as constants: features [B, F] -> [B, n_outputs], the L estimates
        ``(f[keep] - x_mean) / x_std @ coef + y_mean`` then n_outputs - L zeros."""

        def __init__(self, keep, x_mean, x_std, coef, y_mean, n_outputs: int, **kwargs):
            super().__init__(**kwargs)
            self.keep = [int(i) for i in keep]
            self.x_mean = [float(v) for v in x_mean]
            self.x_std = [float(v) for v in x_std]
            self.coef = [[float(v) for v in row] for row in coef]
            self.y_mean = [float(v) for v in y_mean]
            self.n_outputs = int(n_outputs)
            self._keep = tf.constant(self.keep, tf.int32)
            self._x_mean = tf.constant(self.x_mean, tf.float32)
            self._x_std = tf.constant(self.x_std, tf.float32)
            self._coef = tf.constant(np.asarray(self.coef, np.float32).reshape(len(self.keep), -1))
            self._y_mean = tf.constant(self.y_mean, tf.float32)

        def call(self, f):
            z = (tf.gather(tf.cast(f, tf.float32), self._keep, axis=-1) - self._x_mean) / self._x_std
            est = tf.matmul(z, self._coef) + self._y_mean
            pad = self.n_outputs - len(self.y_mean)
            return tf.pad(est, [[0, 0], [0, pad]]) if pad else est

        def compute_output_shape(self, input_shape):
            return (input_shape[0], self.n_outputs)

        def get_config(self):
            return {**super().get_config(), "keep": self.keep, "x_mean": self.x_mean,
                    "x_std": self.x_std, "coef": self.coef, "y_mean": self.y_mean,
                    "n_outputs": self.n_outputs}

    return SummaryRidge


def term(x_in, term_cfg: dict, ridge: dict, n_outputs: int):
    """The fixed term [B, n_outputs] of the network's input [B, S, S, S, C]: layers
    ``sample_summary`` (the features) and ``summary_ridge`` (the fitted ridge ``ridge``, a
    ``RidgePk.state()``: its kept columns, standardisation, coefficients and label means)."""
    f = layer_class()(int(term_cfg["pk_bins"]), term_cfg["quantiles"], name="sample_summary")(x_in)
    keep = np.flatnonzero(np.asarray(ridge["keep"], bool))
    if len(ridge["keep"]) != int(f.shape[-1]):
        raise ValueError(f"model.summary_term: the fitted ridge reads {len(ridge['keep'])} "
                         f"features, the sample summary has {int(f.shape[-1])}")
    return ridge_class()(keep, ridge["x_mean"], ridge["x_std"], ridge["coef"], ridge["y_mean"],
                         int(n_outputs), name="summary_ridge")(f)


def batch_keys(ids: dict):
    """One int64 per sample of a batch of the record reader's ids (graph or eager):
    ``sim * 2^32 + subvolume * 2^16 + round(1000 z)`` of its first redshift, unique within a
    split: how ``fit``'s shifts and ``cosmoflow.train.label_shift`` find a sample."""
    import tensorflow as tf

    z0 = tf.cast(ids["z"], tf.float64)
    z0 = tf.reshape(z0, [tf.shape(ids["sim"])[0], -1])[:, 0]
    return (tf.bitwise.left_shift(tf.cast(ids["sim"], tf.int64), 32)
            + tf.bitwise.left_shift(tf.cast(ids["subvolume"], tf.int64), 16)
            + tf.cast(tf.round(1000.0 * z0), tf.int64))


@dataclass
class Fitted:
    """The summary term fitted on a training split.

    state : ``RidgePk.state()`` of the ridge refitted on every training sample (JSON-ready):
        what the model carries.
    alphas : (L,) penalties chosen by cross-validation.
    keys : (n,) int64 ``batch_keys`` of the training samples.
    shift : (n, L) float64, each training sample's out-of-fold ridge estimate minus the full
        ridge's (normalised label units): training on labels minus it makes the conv network
        fit the residual the ridge leaves on simulations it was not fitted to, the residual it
        leaves on new data, instead of the smaller one on its own training samples.
    """

    state: dict
    alphas: np.ndarray
    keys: np.ndarray
    shift: np.ndarray


def fit(batches, term_cfg: dict) -> Fitted:
    """The ridge of the summary term, fitted on every sample of ``batches`` (an iterable of
    ``(x, y, ids)``: the network's inputs [B, S, S, S, C], normalised labels [B, L] and the
    reader's ids: "sim" [B] groups the folds), penalty per label by ``cv_folds``-fold
    cross-validation over whole simulations from ``ridge_alphas``; with each sample's
    out-of-fold estimate (:class:`Fitted`).

    ValueError naming ``model.summary_term`` when the batches hold no sample, inputs that are
    not log(1 + integer counts), or two samples with one key.
    """
    from cosmoflow.ridge import fit_ridge_cv_oof

    layer = layer_class()(int(term_cfg["pk_bins"]), term_cfg["quantiles"])
    feats, labels, sims, keys = [], [], [], []
    t0 = time.perf_counter()
    for x, y, ids in batches:
        counts = np.expm1(np.asarray(x, np.float64))
        if np.any(np.abs(counts - np.round(counts)) > 1e-2 + 1e-5 * np.abs(counts)) or \
                np.any(counts < -1e-2):
            raise ValueError("model.summary_term: the training inputs are not log(1 + counts) of "
                             "integer counts (the one-point features read the counts' histogram); "
                             "use particle-count records with data.input_norm: log1p")
        feats.append(layer(x).numpy().astype(np.float64))
        labels.append(np.asarray(y, np.float64))
        sims.append(np.asarray(ids["sim"]))
        keys.append(batch_keys(ids).numpy())
    if not feats:
        raise ValueError("model.summary_term: the training split holds no sample")
    X, Y, groups = np.concatenate(feats), np.concatenate(labels), np.concatenate(sims)
    keys = np.concatenate(keys)
    if len(np.unique(keys)) != len(keys):
        raise ValueError("model.summary_term: two training samples share a simulation, "
                         "sub-volume and redshift")
    ridge, chosen, _, oof = fit_ridge_cv_oof(X, Y, groups, term_cfg["ridge_alphas"],
                                             int(term_cfg["cv_folds"]))
    full = ridge.predict(X)   # one training simulation: oof is this (nothing held out, no shift)
    logging.getLogger("cosmoflow.train").info(
        "summary term: ridge on %d features of %d samples (%d simulations), penalties %s; "
        "RMSE on the training split %s, out of fold %s (normalised labels); %.1f s",
        X.shape[1], len(X), len(np.unique(groups)), chosen.tolist(),
        np.sqrt(((full - Y) ** 2).mean(0)).round(4).tolist(),
        np.sqrt(((oof - Y) ** 2).mean(0)).round(4).tolist(), time.perf_counter() - t0)
    return Fitted(ridge.state(), chosen, keys, oof - full)
