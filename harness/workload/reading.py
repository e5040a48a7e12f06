"""Recording what a consumer saw: one read row per record, decoded from its value header."""

from __future__ import annotations

from confluent_kafka import Message

from harness.history import values
from harness.history.schema import Table
from harness.history.writer import HistoryWriter

PHANTOM_HEAD = 64  # bytes of a foreign value kept as evidence


def record_read(history: HistoryWriter, msg: Message, generation: int, in_txn: int = 0) -> tuple[int, int] | None:
    """Record `msg` as read; returns its (producer, seq) when it is one of ours."""
    value = msg.value()
    ids = values.decode(value)
    producer, seq, txn = ids if ids else (-1, -1, -1)
    key = msg.key()
    epoch = msg.leader_epoch()
    history.row(Table.READS, topic=msg.topic(), partition=msg.partition(), offset=msg.offset(),
                key=key.decode(errors="replace") if key is not None else None,
                producer=producer, seq=seq, txn=txn,
                head=None if ids else (value or b"")[:PHANTOM_HEAD],
                leader_epoch=-1 if epoch is None else epoch, generation=generation, in_txn=in_txn)
    return (producer, seq) if ids else None


def next_offsets(msgs: list[Message]):
    """{(topic, partition): offset after the last of `msgs`} — what a commit after them stores."""
    offsets: dict[tuple[str, int], int] = {}
    for msg in msgs:
        offsets[(msg.topic(), msg.partition())] = msg.offset() + 1
    return offsets
