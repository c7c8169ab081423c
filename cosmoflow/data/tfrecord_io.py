"""TFRecord files and tf.train.Example messages, written without TensorFlow.

A TFRecord file is a sequence of records, each (little-endian; TensorFlow's
``tensorflow/core/lib/io/record_writer``)::

    uint64 length | uint32 masked CRC-32C of those 8 bytes | data | uint32 masked CRC-32C of data

with ``masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8`` (mod 2^32). A ``tf.train.Example``
is the protobuf message ``Example {Features features = 1}``, ``Features {map<string, Feature>
feature = 1}``, ``Feature {oneof: BytesList bytes_list = 1, FloatList float_list = 2,
Int64List int64_list = 3}``, each list ``repeated value = 1`` (floats and int64s packed):
``tensorflow/core/example/{example,feature}.proto``.

Why: the records stage needs nothing else of TensorFlow, whose import costs ~11 s of a 2-core
machine in every records job. TensorFlow reads what this writes: tests/test_tfrecords.py
compares the bytes with ``tf.io.TFRecordWriter``'s and the messages with ``tf.train.Example``'s.
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO, Iterable, Sequence

import numpy as np

__all__ = ["example_bytes", "crc32c", "masked_crc32c", "record_bytes", "RecordWriter"]

_KINDS = {"bytes": 1, "float": 2, "int64": 3}   # Feature's oneof field numbers
_CRC32C_POLY = 0x82F63B78                       # Castagnoli, reflected
_MASK_DELTA = 0xA282EAD8


# --------------------------------------------------------------------------------------------
# protobuf wire format (only what tf.train.Example needs)
def _varint(n: int) -> bytes:
    """Base-128 varint of a non-negative int (negative int64s: their 64-bit two's complement)."""
    n &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): key, length, payload."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _feature(kind: str, values: Sequence) -> bytes:
    """One serialized tf.train.Feature holding ``values`` as a bytes, float or int64 list."""
    if kind == "bytes":
        body = b"".join(_field(1, bytes(v)) for v in values)
    elif kind == "float":
        body = _field(1, np.asarray(values, "<f4").tobytes()) if len(values) else b""
    elif kind == "int64":
        body = _field(1, b"".join(_varint(int(v)) for v in values)) if len(values) else b""
    else:
        raise ValueError(f"feature kind must be one of {sorted(_KINDS)}, got {kind!r}")
    return _field(_KINDS[kind], body)


def example_bytes(features: Iterable[tuple[str, str, Sequence]]) -> bytes:
    """Serialized tf.train.Example of ``(name, kind, values)`` features, in the order given
    (kind: "bytes" | "float" | "int64")."""
    entries = b"".join(_field(1, _field(1, name.encode()) + _field(2, _feature(kind, values)))
                       for name, kind, values in features)
    return _field(1, entries)


# --------------------------------------------------------------------------------------------
# CRC-32C and the record framing
def _table() -> np.ndarray:
    t = np.arange(256, dtype=np.int64)
    for _ in range(8):
        t = np.where(t & 1, (t >> 1) ^ _CRC32C_POLY, t >> 1)
    return t


_TABLE = _table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, as TFRecord frames use it: crc32c(b"123456789") is
    0xE3069283."""
    from cosmoflow.data.crc32c_kernel import crc32c_update   # numba: on first use only

    buf = np.frombuffer(data, np.uint8)
    return int(crc32c_update(np.int64(0xFFFFFFFF), buf, _TABLE)) ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The masked CRC-32C a TFRecord frame stores (so a CRC of data holding CRCs stays sound)."""
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def record_bytes(data: bytes) -> bytes:
    """One TFRecord frame around ``data``."""
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", masked_crc32c(length)) + data
            + struct.pack("<I", masked_crc32c(data)))


class RecordWriter:
    """Writes TFRecord frames to ``path`` (as ``tf.io.TFRecordWriter`` with no compression)."""

    def __init__(self, path: str | Path):
        self._fh: BinaryIO = open(path, "wb")

    def write(self, data: bytes) -> None:
        self._fh.write(record_bytes(data))

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "RecordWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
