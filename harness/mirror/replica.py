"""What the replica held, into the run directory and back (the checker never needs the replica).

    mirror/replica.arrow   topic (the primary's name), partition, offset, producer, seq: every
                           record of the replica's copies, read to their end after the drain
    mirror/failover.json   {group: {topic: {partition: offset}}}: where a consumer of each group,
                           failing over to the replica, started reading (its first record's
                           offset, or the end when it got none)
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from harness.files import Unreadable, read_text, regular
from harness.history import values
from harness.rundir import RunDir

SCHEMA = pa.schema([("topic", pa.string()), ("partition", pa.int32()), ("offset", pa.int64()),
                    ("producer", pa.int32()), ("seq", pa.int64())])
MAX_BYTES = 2 * 2**30
MAX_FAILOVER_BYTES = 1 * 2**20
PROBE_S = 10.0  # how long a failover probe waits for its first records


def retrying(read, attempts: int = 10, pause_s: float = 1.0):
    """`read()`, again while the replica answers with a Kafka error (a topic MirrorMaker just
    made, whose leader the client does not know yet)."""
    from confluent_kafka import KafkaException

    return Retrying(stop=stop_after_attempt(attempts), wait=wait_fixed(pause_s),
                    retry=retry_if_exception_type(KafkaException), reraise=True)(read)


class ReplicaError(Exception):
    """The replica's dump is missing or not what `write` writes."""


def read_topic(client: dict, topic: str, timeout: float = 60) -> list[tuple[int, int, int, int]]:
    """Every record of `topic` up to its end now: (partition, offset, producer, seq), -1 for a value
    no harness producer wrote."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**client, "group.id": f"kc-mirror-reader-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in partitions}
        wanted = {p for p, (low, high) in ends.items() if high > low}
        consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in wanted])
        found, deadline = [], time.monotonic() + timeout
        while wanted and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            header = values.decode(msg.value())
            producer, seq = (header[0], header[1]) if header else (-1, -1)
            found.append((msg.partition(), msg.offset(), producer, seq))
            if msg.offset() + 1 >= ends[msg.partition()][1]:
                wanted.discard(msg.partition())
        if wanted:
            raise TimeoutError(f"the replica's {topic} was not read to its end in {timeout:.0f} s")
        return found
    finally:
        consumer.close()


def resume_points(client: dict, topic: str, group: str, reset: str) -> dict[int, int]:
    """Where a consumer of `group` joining the replica starts reading each partition of `topic`."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**client, "group.id": group, "auto.offset.reset": reset, "enable.auto.commit": False})
    first: dict[int, int] = {}
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.subscribe([topic])
        deadline = time.monotonic() + PROBE_S
        while time.monotonic() < deadline and len(first) < len(partitions):
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                first.setdefault(msg.partition(), msg.offset())
        for p in partitions:
            first.setdefault(p, consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1])
        return first
    finally:
        consumer.close()


def write(run: RunDir | Path, rows: list[tuple[str, int, int, int, int]], failover: dict) -> None:
    run = RunDir.of(run)
    run.mirror.mkdir(exist_ok=True)
    columns = list(zip(*rows)) if rows else [[] for _ in SCHEMA]
    table = pa.table([pa.array(list(c), f.type) for c, f in zip(columns, SCHEMA)], schema=SCHEMA)
    with pa.OSFile(str(run.mirror_replica), "wb") as sink, pa.ipc.new_file(sink, SCHEMA) as writer:
        writer.write_table(table)
    run.mirror_failover.write_text(json.dumps(failover, indent=1, sort_keys=True))


def read(run: RunDir | Path) -> tuple[pd.DataFrame, dict[str, dict[str, dict[int, int]]]]:
    """(records, failover) as `write` wrote them; ReplicaError naming the file otherwise (the run
    directory is untrusted input)."""
    run = RunDir.of(run)
    path, name = run.mirror_replica, run.relative(run.mirror_replica)
    try:
        if regular(path) is None:
            raise ReplicaError(f"{name}: missing")
        if path.stat().st_size > MAX_BYTES:
            raise ReplicaError(f"{name}: larger than {MAX_BYTES} bytes")
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_file(source).read_all()
            table.validate(full=True)
    except Unreadable as exc:
        raise ReplicaError(f"{name}: {exc}") from exc
    except (pa.ArrowException, OSError) as exc:
        raise ReplicaError(f"{name}: unreadable ({exc})") from exc
    if not table.schema.equals(SCHEMA, check_metadata=False):
        raise ReplicaError(f"{name}: not the schema the harness writes")
    frame = table.to_pandas()
    for column in ("partition", "offset", "producer", "seq"):
        if len(frame) and frame[column].min() < -1:
            raise ReplicaError(f"{name}: {column} out of range")
    return frame, _failover(run)


def _failover(run: RunDir) -> dict[str, dict[str, dict[int, int]]]:
    name = run.relative(run.mirror_failover)
    try:
        data = json.loads(read_text(run.mirror_failover, MAX_FAILOVER_BYTES))
        return {str(g): {str(t): {int(p): int(o) for p, o in parts.items()} for t, parts in topics.items()}
                for g, topics in data.items()}
    except (Unreadable, ValueError, AttributeError, TypeError) as exc:
        raise ReplicaError(f"{name}: {exc}") from exc
