"""The compiled CRC-32C loop of `cosmoflow.data.tfrecord_io` (numba).

Its own module, as `voxel_kernel`, so that importing the record writer does not import numba.
"""
from __future__ import annotations

import numba


@numba.njit(cache=True, nogil=True)
def crc32c_update(crc, data, table):
    """Table-driven CRC-32C of the uint8 array ``data``, from the running (pre-inverted) ``crc``."""
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc
