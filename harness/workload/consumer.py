"""The consumer worker: group-subscribed or manually assigned, committing before or after
processing (or automatically), with simulated processing time. A read row means "processed".

Optional: poison records (seed scenarios 4, 20, 36) that fail processing and either crash the
consumer or go to a dead letter topic with the error in their headers; and backpressure (11):
records wait in a bounded buffer, and fetching pauses while it is full.
"""

from __future__ import annotations

import time

from collections import deque

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, Producer, TopicPartition

from harness.history import values
from harness.history.schema import Phase, acks
from harness.workload.config import UNUSED_GROUP, CommitMode, CommitScope, CommitStrategy, ConsumerConfig
from harness.workload.producer import delivery_recorder, drain, record_invocations, record_not_sent
from harness.workload.reading import next_offsets, record_read
from harness.workload.worker import Worker, register

POLL_S = 0.1
DEAD_LETTER_FLUSH_S = 30.0


class PoisonRecord(Exception):
    """Processing this record fails, every time."""


@register("consumer")
class ConsumerWorker(Worker):
    config: ConsumerConfig

    def run(self) -> None:
        cfg = self.config
        self.generation = 0
        self.processed: dict[tuple[str, int], int] = {}  # next offset per partition, since assignment
        self.consumer = Consumer(self.consumer_config(**{
            "group.id": cfg.group or UNUSED_GROUP.format(cfg.name),
            "on_commit": self._on_commit_result,
        }))
        self.dead_letters = Producer(self.producer_config()) if cfg.dead_letter_topic else None
        self.on_dead_letter = delivery_recorder(
            self.history, self.runtime.producer_id, acks(self.runtime.producer_client)) if self.dead_letters else None
        self.dead_letter_seq = 0
        self.buffer: deque[Message] = deque()
        self.paused = False
        if cfg.group:
            self.consumer.subscribe(cfg.topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                                    on_lost=self._on_lost)
        else:
            self._assign_everything()
        try:
            while not self.stopping:
                if cfg.max_buffered:  # fetch ahead of processing, up to the buffer's room
                    self.buffer.extend(self._poll(max(1, cfg.max_buffered - len(self.buffer)),
                                                  0 if self.buffer else POLL_S))
                    self._backpressure()
                    records = [self.buffer.popleft() for _ in range(min(cfg.batch_size, len(self.buffer)))]
                else:
                    records = self._poll(cfg.batch_size, POLL_S)
                if records:
                    self._handle(records)
                self.history.maybe_flush()
        finally:
            self.consumer.close()
            if self.dead_letters:
                drain(self.dead_letters)

    def _poll(self, limit: int, timeout: float) -> list[Message]:
        records = []
        for msg in self.consumer.consume(limit, timeout):
            if msg.error():
                self.event("error", topic=msg.topic(), partition=msg.partition(), detail=msg.error().name())
            else:
                records.append(msg)
        return records

    def _handle(self, records: list[Message]) -> None:
        cfg = self.config
        per_message = cfg.commit_scope == CommitScope.MESSAGE
        if cfg.commit == CommitStrategy.BEFORE and not per_message:
            self._commit(next_offsets(records))
        for msg in records:
            if cfg.commit == CommitStrategy.BEFORE and per_message:
                self._commit(next_offsets([msg]))
            self._process(msg)
            if cfg.commit == CommitStrategy.AFTER and per_message and cfg.group:
                self._commit(next_offsets([msg]))
        if cfg.commit == CommitStrategy.AFTER and not per_message and cfg.group:
            self._commit(next_offsets(records))

    def _process(self, msg: Message) -> None:
        if self.config.processing_ms:
            time.sleep(self.config.processing_ms / 1000)
        if self._is_poison(msg):
            if not self.dead_letters:
                raise PoisonRecord(f"cannot process {msg.topic()}-{msg.partition()}@{msg.offset()}")
            self._dead_letter(msg)
        record_read(self.history, msg, self.generation)
        self.processed[(msg.topic(), msg.partition())] = msg.offset() + 1
        self.history.maybe_flush()  # processing shows in the history even before its commit

    # ---- poison records and backpressure ----------------------------------------------------

    def _is_poison(self, msg: Message) -> bool:
        every = self.config.poison_every
        ids = values.decode(msg.value()) if every else None
        return bool(ids) and ids[1] % every == every - 1

    def _dead_letter(self, msg: Message) -> None:
        """Send the poison record on, with why and whence in its headers; it counts as handled."""
        cfg, pid = self.config, self.runtime.producer_id
        key = msg.key().decode(errors="replace") if msg.key() is not None else None
        source = values.decode(msg.value())
        seq, self.dead_letter_seq = self.dead_letter_seq, self.dead_letter_seq + 1
        record_invocations(self.history, pid, seq, 0, [cfg.dead_letter_topic], [key], values.HEADER_LEN + 64,
                           [source[:2]])
        value = b"kc:%06d:%012d:%09d:" % (pid, seq, 0) + f"poison from {msg.topic()}".encode().ljust(64, b".")
        headers = [("error", b"PoisonRecord: processing failed"),
                   ("source", f"{msg.topic()}-{msg.partition()}@{msg.offset()}".encode())]
        try:
            self.dead_letters.produce(cfg.dead_letter_topic, value, key, headers=headers,
                                      on_delivery=self.on_dead_letter)
        except (BufferError, KafkaException) as exc:
            record_not_sent(self.history, pid, [seq], type(exc).__name__)
            raise
        self.dead_letters.poll(0)

    def _backpressure(self) -> None:
        """Pause fetching while the buffer is full; resume once it is half empty."""
        limit = self.config.max_buffered
        if not self.paused and len(self.buffer) >= limit:
            self.consumer.pause(self.consumer.assignment())
            self.paused = True
            self.event("pause", detail=f"{len(self.buffer)} records waiting")
        elif self.paused and len(self.buffer) <= limit // 2:
            self.consumer.resume(self.consumer.assignment())
            self.paused = False
            self.event("resume", detail=f"{len(self.buffer)} records waiting")

    # ---- commits --------------------------------------------------------------------------

    def _commit(self, offsets: dict[tuple[str, int], int], asynchronous: bool | None = None) -> None:
        """Commit `offsets`: the reads they cover, and the commit's invocation, reach the history
        file before the commit reaches the broker."""
        if asynchronous is None:
            asynchronous = self.config.commit_mode == CommitMode.ASYNC
        partitions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        for tp in partitions:
            self.event("commit", phase=Phase.INVOKE.value, topic=tp.topic, partition=tp.partition,
                       offset=tp.offset, generation=self.generation)
        if self.dead_letters:  # dead letters are acknowledged before the offsets that cover them
            self.dead_letters.flush(DEAD_LETTER_FLUSH_S)
        self.history.flush()
        if asynchronous:
            self.consumer.commit(offsets=partitions, asynchronous=True)  # outcome: _on_commit_result
            return
        try:  # librdkafka reports synchronous commits only here, not to on_commit
            self._on_commit_result(None, self.consumer.commit(offsets=partitions, asynchronous=False))
        except KafkaException as exc:
            self._on_commit_result(exc.args[0], partitions)

    def _on_commit_result(self, err, partitions: list[TopicPartition]) -> None:
        """The outcome of a commit: asynchronous and automatic ones arrive here from librdkafka."""
        for tp in partitions:
            error = err or tp.error
            self.event("commit", phase=(Phase.FAIL if error else Phase.OK).value, topic=tp.topic,
                       partition=tp.partition, offset=tp.offset, generation=self.generation,
                       detail=error.name() if error else None)

    # ---- assignment -----------------------------------------------------------------------

    def _assign_everything(self) -> None:
        metadata = self.consumer.list_topics(timeout=30)
        partitions = [TopicPartition(t, p, OFFSET_BEGINNING)
                      for t in self.config.topics for p in sorted(metadata.topics[t].partitions)]
        self.consumer.assign(partitions)
        self._on_assign(self.consumer, partitions)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.generation += 1
        if not partitions:  # an idle member: its generation is still worth recording
            self.event("assign", generation=self.generation, detail="nothing assigned")
        for tp in partitions:
            self.event("assign", topic=tp.topic, partition=tp.partition, generation=self.generation)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Commit what was processed before giving the partitions up (seed scenario 24)."""
        mine = {(tp.topic, tp.partition) for tp in partitions}
        done = {tp: offset for tp, offset in self.processed.items() if tp in mine}
        if done and self.config.commit == CommitStrategy.AFTER and self.config.group:
            self._commit(done, asynchronous=False)
        self._release(partitions, "revoke")

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._release(partitions, "lost")

    def _release(self, partitions: list[TopicPartition], kind: str) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self.buffer = deque(m for m in self.buffer if (m.topic(), m.partition()) not in gone)  # the next owner reads them
        for tp in partitions:
            self.processed.pop((tp.topic, tp.partition), None)
            self.event(kind, topic=tp.topic, partition=tp.partition, generation=self.generation)
