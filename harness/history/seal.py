"""Checksums on the harness's own records, so a reader tells a damaged file (a flipped bit, a cut,
a copy gone wrong) from what Kafka did: record batches carry the CRC-32 of their buffers, JSON
records the CRC-32 of their canonical text under `checksum`."""

from __future__ import annotations

import json
import zlib

import pyarrow as pa

CHECKSUM = "checksum"


def batch_crc(batch: pa.RecordBatch) -> int:
    """CRC-32 over every buffer of every column, in order (a validity bitmap only where there are
    nulls: one without nulls may be omitted when the batch is written)."""
    crc = 0
    for column in batch.columns:
        for i, buffer in enumerate(column.buffers()):
            if buffer is not None and not (i == 0 and column.null_count == 0):
                crc = zlib.crc32(buffer, crc)
    return crc


def _canonical(record: dict) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def seal(record: dict) -> dict:
    """`record` as JSON would read it back, with its checksum."""
    plain = json.loads(json.dumps(record, default=str))
    return {**plain, CHECKSUM: zlib.crc32(_canonical(plain))}


def unseal(record: dict) -> tuple[dict, bool | None]:
    """(the record without its checksum, whether the checksum matched; None when it has none)."""
    if CHECKSUM not in record:
        return record, None
    plain = {k: v for k, v in record.items() if k != CHECKSUM}
    return plain, record[CHECKSUM] == zlib.crc32(_canonical(plain))
