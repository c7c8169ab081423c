"""Training labels shifted per sample (``model.summary_term``'s out-of-fold targets).

``shifted(source, keys, shift)`` is the training ``DataSource`` whose every batch has, from
each sample's labels, that sample's row of ``shift`` subtracted, the sample found by its key
(``summary_term.batch_keys`` of the reader's sim, subvolume and z). The model then learns
labels minus the shift; batches, order and augmentation are the source's, so runs stay a pure
function of (seed, epoch) and resume as before.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from cosmoflow.model.summary_term import batch_keys
from cosmoflow.train.data import DataSource


def shifted(source: DataSource, keys: np.ndarray, shift: np.ndarray) -> DataSource:
    """``source`` with labels minus each sample's row of ``shift`` ((n, L), normalised label
    units) in every epoch; ``source.make`` must take ``with_ids``. A batch holding a sample
    whose key is not in ``keys`` stops training with an InvalidArgumentError naming it."""
    keys = np.asarray(keys, np.int64)
    rows = tf.constant(np.asarray(shift, np.float32))

    def make(epoch: int) -> tf.data.Dataset:
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(keys),
                                                tf.range(len(keys), dtype=tf.int64)),
            default_value=-1)

        def sub(x, y, ids):
            k = batch_keys(ids)
            i = table.lookup(k)
            check = tf.debugging.Assert(tf.reduce_all(i >= 0), [
                "model.summary_term: a training sample (key sim<<32 + subvolume<<16 + 1000 z) "
                "has no out-of-fold shift; the batch's keys:", k])
            with tf.control_dependencies([check]):
                return x, y - tf.gather(rows, i)

        return source.make(epoch, with_ids=True).map(sub, num_parallel_calls=1,
                                                     deterministic=True)

    return dataclasses.replace(source, make=make)
