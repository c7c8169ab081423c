"""Voxel grids, TFRecord samples and the tf.data reader (docs/data.md).

``voxels`` (numpy/h5py; numba only when its compiled histogram runs) is imported eagerly;
``tfrecord`` and ``reader`` import TensorFlow lazily inside their functions, so
``import cosmoflow.data`` stays light.
"""
from cosmoflow.data.voxels import (assemble_subvolumes, histogram_counts, read_snapshot,
                                   read_voxels, split_subvolumes, voxelize_snapshot,
                                   wrap_positions)

__all__ = ["assemble_subvolumes", "histogram_counts", "read_snapshot", "read_voxels",
           "split_subvolumes", "voxelize_snapshot", "wrap_positions", "make_dataset",
           "read_manifest"]


def make_dataset(*args, **kwargs):
    """See `cosmoflow.data.reader.make_dataset`."""
    from cosmoflow.data.reader import make_dataset as _make
    return _make(*args, **kwargs)


def read_manifest(*args, **kwargs):
    """See `cosmoflow.data.reader.read_manifest`."""
    from cosmoflow.data.reader import read_manifest as _read
    return _read(*args, **kwargs)
