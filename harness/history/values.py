"""Produced values identify their send invocation: producer, sequence number and transaction.

A value starts with a fixed-width ASCII header, `kc:PPPPPP:SSSSSSSSSSSS:TTTTTTTTT:` (producer id,
sequence number, transaction number, 0 when none), and is padded with '.' to the requested size.
Fixed widths keep decoding a slice-and-int on the consumer's hot path, and the values stay
readable in any Kafka tool.
"""

from __future__ import annotations

HEADER_LEN = 33
_FORMAT = b"kc:%06d:%012d:%09d:"
PRODUCER = slice(3, 9)
SEQ = slice(10, 22)
TXN = slice(23, 32)
MAX_PRODUCER = 999_999
MAX_SEQ = 999_999_999_999
MAX_TXN = 999_999_999


def encode(producer: int, seq: int, txn: int, size: int) -> bytes:
    """The value of a send (workers inline this format with a precomputed padding)."""
    header = _FORMAT % (producer, seq, txn)
    return header + b"." * (size - HEADER_LEN) if size > HEADER_LEN else header


def padding(size: int) -> bytes:
    """The padding after the header for values of `size` bytes (precomputed by producers)."""
    return b"." * max(0, size - HEADER_LEN)


def decode(value: bytes | None) -> tuple[int, int, int] | None:
    """(producer, seq, txn) of a value this harness produced, None for anything else."""
    if value is None or len(value) < HEADER_LEN or not value.startswith(b"kc:"):
        return None
    if value[9:10] != b":" or value[22:23] != b":" or value[32:33] != b":":
        return None
    try:
        return int(value[PRODUCER]), int(value[SEQ]), int(value[TXN])
    except ValueError:
        return None
