"""``predict``: a trained run's estimates on inputs of one's own (docs/predict.md).

Modules: ``trained`` (the model, label and input normalisation and training geometry of a
run), ``geometry`` (what the network expects; the checks), ``inputs`` (voxel files, HDF5
snapshots, .npy grids -> count grids and samples), ``core`` (the network in evaluate's float
path: bit-identical estimates; widths of a network with log-variance outputs), ``table`` (the
CSV), ``stage`` (``run``: all of it), ``cli`` (``python -m cosmoflow.predict``). TensorFlow is
imported only where the network runs.
"""
from cosmoflow.predict.geometry import Expected
from cosmoflow.predict.inputs import Grid, Options
from cosmoflow.predict.stage import predict_input, run

__all__ = ["Expected", "Grid", "Options", "predict_input", "run"]
