"""The consumer worker: group-subscribed or manually assigned, committing before or after
processing (or automatically), with simulated processing time. A read row means "processed"."""

from __future__ import annotations

import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from harness.history.schema import Phase
from harness.workload.config import CommitMode, CommitScope, CommitStrategy, ConsumerConfig
from harness.workload.reading import next_offsets, record_read
from harness.workload.worker import Worker, register

POLL_S = 0.1


@register("consumer")
class ConsumerWorker(Worker):
    config: ConsumerConfig

    def run(self) -> None:
        cfg = self.config
        self.generation = 0
        self.processed: dict[tuple[str, int], int] = {}  # next offset per partition, since assignment
        self.consumer = Consumer(self.consumer_config(**{
            "group.id": cfg.group or f"kafka-chaos-unused-{cfg.name}",
            "on_commit": self._on_commit_result,
        }))
        if cfg.group:
            self.consumer.subscribe(cfg.topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                                    on_lost=self._on_lost)
        else:
            self._assign_everything()
        try:
            while not self.stopping:
                records = self._poll()
                if records:
                    self._handle(records)
                self.history.maybe_flush()
        finally:
            self.consumer.close()

    def _poll(self) -> list[Message]:
        records = []
        for msg in self.consumer.consume(self.config.batch_size, POLL_S):
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
        record_read(self.history, msg, self.generation)
        self.processed[(msg.topic(), msg.partition())] = msg.offset() + 1
        self.history.maybe_flush()  # processing shows in the history even before its commit

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
        for tp in partitions:
            self.processed.pop((tp.topic, tp.partition), None)
            self.event(kind, topic=tp.topic, partition=tp.partition, generation=self.generation)
