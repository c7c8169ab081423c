"""Run under `mpiexec -n 2` by test_reader.py: each rank reads its share of one epoch.

Usage: mpi_reader_ranks.py MANIFEST OUT_JSON EPOCH. Rank 0 writes {rank: [[sim, subvolume], ...]}.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from mpi4py import MPI  # noqa: E402

from cosmoflow.data.reader import make_dataset  # noqa: E402

comm = MPI.COMM_WORLD
manifest, out, epoch = sys.argv[1], sys.argv[2], int(sys.argv[3])
ds = make_dataset(manifest, rank=comm.rank, world_size=comm.size, batch_size=2, shuffle=True,
                  augment=True, seed=11, epoch=epoch, with_ids=True)
seen = []
for x, y, ids in ds:
    assert x.shape[1:] == (16, 16, 16, 1) and y.shape[1:] == (3,)
    seen += [[int(s), int(k)] for s, k in zip(ids["sim"].numpy(), ids["subvolume"].numpy())]
everything = comm.gather(seen, root=0)
if comm.rank == 0:
    with open(out, "w") as f:
        json.dump({"size": comm.size, "ranks": everything}, f)
