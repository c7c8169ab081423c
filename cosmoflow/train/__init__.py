"""Data-parallel training (mpi4py) of the CosmoFlow network with Adam + LARC.

Modules: ``optimizer`` (Adam + LARC + polynomial decay), ``dist`` (MPI helpers),
``data`` (``DataSource``: TFRecords reader or synthetic), ``loop`` (the training loop,
checkpoints, logs), ``checkpoint`` (atomic files), ``cli`` (``python -m cosmoflow.train``).
"""
