"""MPI data parallelism: world-size check, weight broadcast, one fused gradient allreduce.

``Dist`` is created once by the command line (``Dist.from_mpi``) and passed in; the
training loop never imports mpi4py itself, so a single process (``Dist.single()``) works
without MPI for unit tests.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np


class WorldSizeError(RuntimeError):
    """The MPI world does not have the number of ranks that was asked for."""


@dataclass
class Dist:
    """Rank, size and communicator (``comm`` is None for a single process without MPI)."""

    rank: int = 0
    size: int = 1
    comm: object | None = None
    allreduce_seconds: float = field(default=0.0)
    allreduce_calls: int = field(default=0)

    @classmethod
    def single(cls) -> "Dist":
        return cls()

    @classmethod
    def from_mpi(cls, expected_ranks: int) -> "Dist":
        """Initialise MPI (mpi4py) and check the world size against ``expected_ranks``.

        Raises
        ------
        WorldSizeError
            On every rank when the world has a different size: e.g. ``python -m
            cosmoflow.train --ranks 2`` without a launcher (size 1), or a launcher from
            another MPI library that starts N independent singletons.
        """
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
        size, rank = comm.Get_size(), comm.Get_rank()
        if size != expected_ranks:
            raise WorldSizeError(
                f"rank {rank}: MPI world size is {size} but --ranks/train.ranks asks for "
                f"{expected_ranks}. Start with `<venv>/bin/mpiexec -n {expected_ranks} python -m "
                "cosmoflow.train ...` (the mpiexec next to the Python that has mpi4py; another "
                "MPI's launcher starts independent single-rank copies).")
        return cls(rank=rank, size=size, comm=comm)

    # -- collectives -------------------------------------------------------------------
    def broadcast_arrays(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """Broadcast a list of arrays from rank 0 (in one flat float64-safe buffer per dtype)."""
        if self.comm is None or self.size == 1:
            return arrays
        out = []
        for a in arrays:
            buf = np.ascontiguousarray(a).copy()
            self.comm.Bcast(buf, root=0)
            out.append(buf)
        return out

    def allreduce_inplace(self, buf: np.ndarray) -> None:
        """Sum ``buf`` over ranks in place: ONE MPI_Allreduce on a contiguous buffer."""
        if self.comm is None or self.size == 1:
            return
        from mpi4py import MPI

        t0 = time.perf_counter()
        self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        self.allreduce_seconds += time.perf_counter() - t0
        self.allreduce_calls += 1

    def allgather(self, obj):
        if self.comm is None or self.size == 1:
            return [obj]
        return self.comm.allgather(obj)

    def bcast(self, obj):
        if self.comm is None or self.size == 1:
            return obj
        return self.comm.bcast(obj, root=0)

    def barrier(self) -> None:
        if self.comm is not None and self.size > 1:
            self.comm.Barrier()

    def abort(self, code: int) -> None:
        """Abort all ranks (after an error on one rank only)."""
        sys.stderr.flush()
        if self.comm is not None and self.size > 1:
            self.comm.Abort(code)
        raise SystemExit(code)
