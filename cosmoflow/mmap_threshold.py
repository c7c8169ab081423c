"""glibc's mmap threshold after TensorFlow's generator datasets.

Building a ``tf.data.Dataset.from_generator`` kernel (the record reader builds one per file
segment) sets glibc's ``M_MMAP_THRESHOLD`` to 128 KiB (TensorFlow's
``tensorflow::data::ApplyPython311MemoryPatch``, found with gdb on ``mallopt``). From then on
every numpy array above 128 KiB is a fresh ``mmap`` whose pages fault on first touch: in the
evaluate process the elementwise work on the ~1 MB arrays of one 64^3 sample's FFT ran 6x slower
(0.65 vs 0.11 ms, 264 page faults per call; measured 2026-12-02). Setting the threshold again
after the pipeline has run lets freed memory be reused. glibc only (Linux); elsewhere a no-op.
"""
from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3            # glibc's mallopt parameter
DYNAMIC_MAX = 32 * 2**20         # glibc's ceiling of its own dynamic threshold (64-bit) [bytes]


def restore_mmap_threshold(nbytes: int = DYNAMIC_MAX) -> bool:
    """Set glibc's mmap threshold to ``nbytes`` (allocations above it are mmapped); True if
    set, False where there is no glibc ``mallopt`` (not Linux, musl)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_THRESHOLD, int(nbytes)))
