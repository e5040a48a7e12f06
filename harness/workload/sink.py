"""The sink worker: consume a topic and write each record as a row of the run's PostgreSQL
database (seed scenarios 9, 22, 31: exactly-once into an external system).

Each polled batch is one database transaction (`kc_rows`, harness.database.table).

- exactly-once: the same transaction stores the input offsets (`kc_offsets`), each only if it
  still holds what this worker last saw there (a zombie's stale write is refused, and it rewinds).
  On assignment the worker seeks to the offsets in the database, never to Kafka's committed ones,
  so rows and position cannot disagree whatever crashes in between.
- at-least-once: rows are committed, and offsets go to Kafka afterwards, every
  `commit_interval_ms` (as Kafka Connect does): a crash in between writes those rows again.

History: a read row is a record whose row the database committed (recorded after the commit,
`in_txn` naming the sink's transaction); a `commit` event is an offset commit: to the database
(exactly-once, `detail` "database", phase ok) or to Kafka (invoke, then ok or fail). So the
`processed-uncommitted` window is "rows committed, offsets not yet", where a crash matters. A lost
database connection (the kill-database fault) rolls the batch back: the worker reconnects and
rewinds to its last committed offsets (the database's, or Kafka's).
"""

from __future__ import annotations

import time

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from harness.database.table import INSERT_ROW
from harness.history import values
from harness.history.schema import Phase
from harness.workload.config import SinkConfig, SinkMode
from harness.workload.reading import next_offsets, record_read
from harness.workload.worker import Worker, register

POLL_S = 0.1
RECONNECT_S = 120.0  # how long the database may be gone before the worker gives up
KAFKA_TIMEOUT_S = 30.0

Offsets = dict[tuple[str, int], int]


class StaleOffsets(Exception):
    """The database holds other offsets than this worker last saw: another member wrote there."""


@register("sink")
class SinkWorker(Worker):
    config: SinkConfig

    def run(self) -> None:
        cfg = self.config
        self.exactly = cfg.mode == SinkMode.EXACTLY_ONCE
        self.generation = self.txn = 0
        self.stored: Offsets = {}  # exactly-once: what the database holds, as far as this worker knows
        self.uncommitted: Offsets = {}  # at-least-once: written to the database, not yet committed to Kafka
        self.db = self._connect()
        self.consumer = Consumer(self.consumer_config(**{"group.id": cfg.group}))
        self.consumer.subscribe([cfg.input], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_lost)
        last_commit = time.monotonic()
        try:
            while not self.stopping:
                records = [m for m in self.consumer.consume(cfg.batch_size, POLL_S) if not m.error()]
                if records:
                    self._write(records)
                if self.uncommitted and time.monotonic() - last_commit >= cfg.commit_interval_ms / 1000:
                    self._commit_to_kafka(self.uncommitted)
                    last_commit = time.monotonic()
                self.history.maybe_flush()
            if self.uncommitted:  # a clean stop leaves nothing to write twice
                self._commit_to_kafka(self.uncommitted)
        finally:
            self.consumer.close()
            self.db.close()

    # ---- writing --------------------------------------------------------------------------

    def _write(self, records: list[Message]) -> None:
        cfg = self.config
        self.txn += 1
        rows = []
        for msg in records:
            if cfg.processing_ms:
                time.sleep(cfg.processing_ms / 1000)
            ids = values.decode(msg.value())
            producer, seq, _ = ids if ids else (-1, -1, -1)
            key = msg.key().decode(errors="replace") if msg.key() is not None else None
            rows.append((cfg.name, self.runtime.incarnation, cfg.group, self.txn, msg.topic(), msg.partition(),
                         msg.offset(), producer, seq, key))
        offsets = next_offsets(records)
        try:
            with self.db.transaction():
                with self.db.cursor() as cursor:
                    cursor.executemany(INSERT_ROW, rows)
                if self.exactly:
                    self._store_offsets(offsets)
        except StaleOffsets as exc:
            self.event("seek", detail=f"offsets in the database moved: {exc}")
            self._rewind()
            return
        except psycopg.OperationalError as exc:  # the database went away: did it commit? Ask it again.
            self.event("error", detail=f"database: {exc}")
            self.db.close()
            self.db = self._connect()
            self._rewind()
            return
        for msg in records:  # in the database now: processed
            record_read(self.history, msg, self.generation, in_txn=self.txn)
        self.history.flush()
        if self.exactly:
            self.stored.update(offsets)
            for (topic, partition), offset in offsets.items():
                self.event("commit", phase=Phase.OK.value, topic=topic, partition=partition, offset=offset,
                           generation=self.generation, detail="database")
        else:
            self.uncommitted.update(offsets)

    def _store_offsets(self, offsets: Offsets) -> None:
        """Inside the rows' transaction: each partition's next offset, only where the database
        still holds what this worker last saw (a concurrent writer waits, then finds it changed)."""
        for (topic, partition), offset in offsets.items():
            expected = self.stored.get((topic, partition))
            if expected is None:
                done = self.db.execute(
                    'INSERT INTO kc_offsets (grp, topic, "partition", next_offset) VALUES (%s, %s, %s, %s) '
                    "ON CONFLICT DO NOTHING", (self.config.group, topic, partition, offset)).rowcount
            else:
                done = self.db.execute(
                    'UPDATE kc_offsets SET next_offset = %s WHERE grp = %s AND topic = %s AND "partition" = %s '
                    "AND next_offset = %s", (offset, self.config.group, topic, partition, expected)).rowcount
            if done != 1:
                raise StaleOffsets(f"{topic}-{partition}: expected {expected}")

    def _connect(self) -> psycopg.Connection:
        def connect() -> psycopg.Connection:
            if self.stopping:
                raise SystemExit(0)
            return psycopg.connect(self.runtime.database, autocommit=True)  # transactions: explicit blocks

        return Retrying(stop=stop_after_delay(RECONNECT_S), wait=wait_exponential(multiplier=0.05, max=1),
                        retry=retry_if_exception_type(psycopg.OperationalError), reraise=True)(connect)

    # ---- offsets ---------------------------------------------------------------------------

    def _database_offsets(self, partitions: list[TopicPartition]) -> Offsets:
        """The offsets the database holds for `partitions` (reconnecting while it is away)."""
        wanted = {(tp.topic, tp.partition) for tp in partitions}
        while True:
            try:
                rows = self.db.execute('SELECT topic, "partition", next_offset FROM kc_offsets WHERE grp = %s',
                                       (self.config.group,)).fetchall()
                return {(t, p): o for t, p, o in rows if (t, p) in wanted}
            except psycopg.OperationalError as exc:
                self.event("error", detail=f"database: {exc}")
                self.db.close()
                self.db = self._connect()

    def _commit_to_kafka(self, offsets: Offsets) -> None:
        """Commit `offsets` to Kafka synchronously; the invocation reaches the history first."""
        partitions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        for tp in partitions:
            self.event("commit", phase=Phase.INVOKE.value, topic=tp.topic, partition=tp.partition,
                       offset=tp.offset, generation=self.generation)
        self.history.flush()
        try:
            results, error = self.consumer.commit(offsets=partitions, asynchronous=False), None
        except KafkaException as exc:
            results, error = partitions, exc.args[0]
        for tp in results:
            failed = error or tp.error
            self.event("commit", phase=(Phase.FAIL if failed else Phase.OK).value, topic=tp.topic,
                       partition=tp.partition, offset=tp.offset, generation=self.generation,
                       detail=failed.name() if failed else None)
        if not error:
            for tp in results:
                if self.uncommitted.get((tp.topic, tp.partition)) == tp.offset:
                    del self.uncommitted[(tp.topic, tp.partition)]

    def _rewind(self) -> None:
        """Back to the last committed offsets (the database's, or Kafka's), so whatever was not
        committed comes round again. Reads after a rewind belong to a new generation."""
        assignment = self.consumer.assignment()
        self.uncommitted.clear()
        if not assignment:
            return
        self.generation += 1
        for tp in self._starting_points(assignment):
            self.consumer.seek(tp)
            self.event("seek", topic=tp.topic, partition=tp.partition, offset=tp.offset, generation=self.generation,
                       detail="database" if self.exactly else "kafka")

    def _starting_points(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        if self.exactly:
            stored = self._database_offsets(partitions)
            for tp in partitions:
                self.stored.pop((tp.topic, tp.partition), None)
            self.stored.update(stored)
            return [TopicPartition(tp.topic, tp.partition, stored.get((tp.topic, tp.partition), OFFSET_BEGINNING))
                    for tp in partitions]
        committed = self.consumer.committed(partitions, timeout=KAFKA_TIMEOUT_S)
        return [TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING)
                for tp in committed]

    # ---- assignment ------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.generation += 1
        for tp in partitions:
            self.event("assign", topic=tp.topic, partition=tp.partition, generation=self.generation)
        if self.exactly and partitions:  # start where the database says, not where Kafka does
            starts = self._starting_points(partitions)
            consumer.assign(starts)
            for tp in starts:
                self.event("seek", topic=tp.topic, partition=tp.partition, offset=tp.offset,
                           generation=self.generation, detail="database")

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        mine = {(tp.topic, tp.partition) for tp in partitions}
        done = {tp: o for tp, o in self.uncommitted.items() if tp in mine}
        if done:  # hand them over committed, as a consumer does
            self._commit_to_kafka(done)
        self._release(partitions, "revoke")

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._release(partitions, "lost")

    def _release(self, partitions: list[TopicPartition], kind: str) -> None:
        for tp in partitions:
            self.uncommitted.pop((tp.topic, tp.partition), None)
            self.stored.pop((tp.topic, tp.partition), None)
            self.event(kind, topic=tp.topic, partition=tp.partition, generation=self.generation)
