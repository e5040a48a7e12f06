"""Which of our values are in the brokers' log segment files: tells a write lost on disk
(truncated away by a leader change) from one that is stored but no reader returned.

Kafka's record batch format v2 (KIP-98), read straight from `<data dir>/<topic>-<partition>/*.log`
after the run, before the cluster goes away. Compressed batches are counted, not read (the
harness's producers do not compress unless an experiment asks). What was found goes to the run
directory (`harness.history.disk`), where the checker's evidence reads it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from harness.history.load import value_id
from harness.history.values import decode

# baseOffset, batchLength, partitionLeaderEpoch, magic, crc, attributes, lastOffsetDelta,
# baseTimestamp, maxTimestamp, producerId, producerEpoch, baseSequence, recordCount
_BATCH = struct.Struct(">qiibIhiqqqhii")
_LENGTH_PREFIX = 12  # baseOffset and batchLength: batchLength counts the bytes after them
_COMPRESSED, _CONTROL = 0x07, 0x20


def records(path: Path) -> tuple[list[tuple[int, int, bytes | None]], int]:
    """(offset, leader epoch, value) of each data record in one segment file, and how many
    compressed batches were skipped. A torn tail (a node killed mid-write) ends the file."""
    data = path.read_bytes()
    view = memoryview(data)  # a batch's records are read from a view that ends with the batch
    found, compressed, pos = [], 0, 0
    while pos + _BATCH.size <= len(data):
        base, length, epoch, magic, _, attributes, *_, count = _BATCH.unpack_from(data, pos)
        end = pos + _LENGTH_PREFIX + length
        if length < _BATCH.size - _LENGTH_PREFIX or end > len(data) or magic != 2:
            break
        if attributes & _COMPRESSED:
            compressed += 1
        elif not attributes & _CONTROL:  # transaction markers carry no value
            try:
                found.extend(_batch_records(view[:end], pos + _BATCH.size, count, base, epoch))
            except IndexError:  # a record runs past its batch: nothing after it can be trusted
                break
        pos = end
    return found, compressed


def _batch_records(data: memoryview, pos: int, count: int, base: int,
                   epoch: int) -> Iterator[tuple[int, int, bytes | None]]:
    for _ in range(count):
        length, pos = _varint(data, pos)
        end = pos + length
        pos += 1  # attributes
        _, pos = _varint(data, pos)  # timestamp delta
        delta, pos = _varint(data, pos)
        key_length, pos = _varint(data, pos)
        pos += max(key_length, 0)
        value_length, pos = _varint(data, pos)
        yield base + delta, epoch, (bytes(data[pos:pos + value_length]) if value_length >= 0 else None)
        pos = end


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    """A zigzag-encoded variable-length integer at `pos`, and the position after it."""
    raw = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        raw |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (raw >> 1) ^ -(raw & 1), pos
        shift += 7


def scan(data_dirs: dict[int, Path], partitions: Iterable[tuple[str, int]]) -> tuple[list[dict], pd.DataFrame]:
    """Every harness value of `partitions` in each node's data directory."""
    partitions = sorted(set(partitions))
    scanned, rows = [], []
    for node, data_dir in sorted(data_dirs.items()):
        for topic, partition in partitions:
            replica = data_dir / f"{topic}-{partition}"
            entry = {"node": node, "topic": topic, "partition": partition, "replica": replica.is_dir(),
                     "records": 0, "compressed_batches": 0}
            for segment in sorted(replica.glob("*.log")) if entry["replica"] else []:
                found, compressed = records(segment)
                entry["records"] += len(found)
                entry["compressed_batches"] += compressed
                rows += [(node, topic, partition, offset, epoch, *ids[:2])
                         for offset, epoch, value in found if (ids := decode(value))]
            scanned.append(entry)
    values = pd.DataFrame(rows, columns=["node", "topic", "partition", "offset", "leader_epoch", "producer", "seq"])
    values["vid"] = value_id(values.pop("producer"), values.pop("seq"))
    return scanned, values
