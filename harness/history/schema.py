"""Record layouts of the history files, one Arrow schema per table.

Each worker incarnation writes its own directory `history/<worker>.<incarnation>/` holding one
append-only Arrow IPC stream per table below, plus `process.json` describing the worker. Times
are nanoseconds: `mono` from CLOCK_MONOTONIC (shared by every process on the machine, so the
order of records across workers and faults is meaningful), `wall` since the Unix epoch.
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa


class Table(StrEnum):
    INVOKES = "invokes"  # a send handed to the client: written before produce() is called
    COMPLETIONS = "completions"  # a send's outcome from its delivery report
    READS = "reads"  # a record a consumer processed (or the final read saw)
    TXNS = "txns"  # transaction begin / commit / abort and their outcomes
    EVENTS = "events"  # everything else a client did: start, stop, assignments, commits, ends


class SendOutcome(StrEnum):
    OK = "ok"  # acknowledged: partition known, offset too unless the ack carried none (-1)
    FAIL = "fail"  # definitely not written (never left the client, or refused as every attempt would be)
    INFO = "info"  # indeterminate: may or may not have been written (timeouts, purges, retries exhausted)
    PENDING = "pending"  # (loader only) invoked, no completion recorded: the worker died


UNKNOWN_OFFSET = -1  # an acknowledged send whose offset the client did not report


def acks(properties: dict | None) -> str | None:
    """A producer's `acks` from its resolved librdkafka properties: "all", "1" or "0" (librdkafka's
    default is all); None when the properties were not recorded."""
    if properties is None:
        return None
    names = ("acks", "request.required.acks", "topic.request.required.acks")
    value = str(next((properties[n] for n in names if n in properties), "all")).strip().lower()
    return "all" if value in ("all", "-1") else value


def idempotent(properties: dict | None, transactional: bool) -> bool:
    """Whether a producer writes each partition in order without duplicates (idempotence on, or
    transactional, which implies it)."""
    return transactional or str((properties or {}).get("enable.idempotence", False)).lower() == "true"


class Phase(StrEnum):
    INVOKE = "invoke"
    OK = "ok"
    FAIL = "fail"


_TIMES = [("mono", pa.int64()), ("wall", pa.int64())]

SCHEMAS: dict[Table, pa.Schema] = {
    Table.INVOKES: pa.schema([
        ("producer", pa.int32()), ("seq", pa.int64()), ("txn", pa.int64()),
        ("topic", pa.string()), ("key", pa.string()), ("size", pa.int32()),
        # transformer outputs: the input record this output derives from
        ("source_producer", pa.int32()), ("source_seq", pa.int64()),
        *_TIMES,
    ]),
    Table.COMPLETIONS: pa.schema([
        ("producer", pa.int32()), ("seq", pa.int64()), ("outcome", pa.string()),
        ("partition", pa.int32()), ("offset", pa.int64()), ("error", pa.string()),
        *_TIMES,
    ]),
    Table.READS: pa.schema([
        ("topic", pa.string()), ("partition", pa.int32()), ("offset", pa.int64()),
        ("key", pa.string()),
        # decoded from the value header; producer -1 when the value is not one of ours
        ("producer", pa.int32()), ("seq", pa.int64()), ("txn", pa.int64()),
        ("head", pa.binary()),  # the value's first bytes, kept only when it is not ours
        ("leader_epoch", pa.int32()),
        ("generation", pa.int32()),  # position epoch: grows with each assignment and each rewind
        ("in_txn", pa.int64()),  # transformer: the transaction it was processed in (0: none)
        *_TIMES,
    ]),
    Table.TXNS: pa.schema([
        ("producer", pa.int32()), ("txn", pa.int64()),
        ("action", pa.string()),  # begin | commit | abort
        ("phase", pa.string()),  # invoke | ok | fail
        ("error", pa.string()),
        *_TIMES,
    ]),
    Table.EVENTS: pa.schema([
        # start | stop | assign | revoke | lost | commit | end | incomplete | error | fenced | seek |
        # authentication-failed
        ("kind", pa.string()),
        ("phase", pa.string()),
        ("topic", pa.string()), ("partition", pa.int32()), ("offset", pa.int64()),
        ("generation", pa.int32()),
        ("detail", pa.string()),
        *_TIMES,
    ]),
}


# ---- format 2: what lets a reader prove a history whole (docs/HISTORY.md) -------------------
# Each stream's schema carries FORMAT_KEY and OWNER_KEY; each batch carries CRC_KEY, the CRC-32 of its buffers,
# and WRITE_KEY, its number in the worker's writes to all its files (1, 2, 3, ...: a killed worker
# loses at most its last); a clean close appends an empty batch carrying END_KEY: {"batches": n,
# "rows": n} before the end-of-stream marker. Files without FORMAT_KEY are format 1 (written
# before these marks).

FORMAT = 2
FORMAT_KEY = b"kafka-chaos.format"
CRC_KEY = b"kafka-chaos.crc32"
END_KEY = b"kafka-chaos.end"
WRITE_KEY = b"kafka-chaos.write"  # the batch's number in its worker's sequence of writes, from 1
OWNER_KEY = b"kafka-chaos.worker"  # in the schema: whose file it is, "<worker>.<incarnation>"

# Value ranges, checked before anything is allocated or packed from them (the checker packs
# (tp, offset) into one int64 with 40 bits for the offset, and (process, tp, generation) into
# another: 11 bits of workers, 12 of incarnation, 20 of tp, 20 of generation).
MAX_PRODUCER = 999_999  # the value header's six digits (harness.history.values)
MAX_SEQ = 999_999_999_999
MAX_TXN = 999_999_999
MAX_PARTITION = 65_535
MAX_OFFSET = 2**40 - 1
MAX_GENERATION = 2**20 - 1
MAX_INCARNATION = 4_095
MAX_WORKERS = 2_047
MAX_TOPIC_PARTITIONS = 2**20  # distinct topics x partition width
_INT32 = 2**31 - 1
_NS = 2**63 - 1

Range = tuple[int, int]
# column -> (low, high, nullable); strings: None for any value, else the allowed values
RANGES: dict[Table, dict[str, tuple[Range | frozenset | None, bool]]] = {
    Table.INVOKES: {
        "producer": ((0, MAX_PRODUCER), False), "seq": ((0, MAX_SEQ), False), "txn": ((0, MAX_TXN), False),
        "topic": (None, False), "size": ((0, _INT32), False),
        "source_producer": ((0, MAX_PRODUCER), True), "source_seq": ((0, MAX_SEQ), True),
    },
    Table.COMPLETIONS: {
        "producer": ((0, MAX_PRODUCER), False), "seq": ((0, MAX_SEQ), False),
        "outcome": (frozenset({SendOutcome.OK, SendOutcome.FAIL, SendOutcome.INFO}), False),
        "partition": ((-1, MAX_PARTITION), False), "offset": ((-1, MAX_OFFSET), False),
    },
    Table.READS: {
        "topic": (None, False), "partition": ((0, MAX_PARTITION), False), "offset": ((0, MAX_OFFSET), False),
        "producer": ((-1, MAX_PRODUCER), False), "seq": ((-1, MAX_SEQ), False), "txn": ((-1, MAX_TXN), False),
        "leader_epoch": ((-1, _INT32), False), "generation": ((0, MAX_GENERATION), False),
        "in_txn": ((0, MAX_TXN), False),
    },
    Table.TXNS: {
        "producer": ((0, MAX_PRODUCER), False), "txn": ((0, MAX_TXN), False),
        "action": (None, False),  # begin | commit | abort, or another call inside it (send-offsets)
        "phase": (frozenset(Phase), False),
    },
    Table.EVENTS: {
        "kind": (None, False), "partition": ((0, MAX_PARTITION), True), "offset": ((-_INT32, MAX_OFFSET), True),
        "generation": ((0, MAX_GENERATION), True),
    },
}
for _columns in RANGES.values():
    _columns.update({"mono": ((0, _NS), False), "wall": ((0, _NS), False)})
