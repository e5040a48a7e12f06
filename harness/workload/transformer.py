"""The transformer worker: consume-transform-produce with exactly-once semantics.

Each polled batch becomes one transaction: the derived records (outputs_per_input per input,
same key, naming their input in the history) and the input offsets
(send_offsets_to_transaction) commit or abort together. After an abort the consumer rewinds to
the committed offsets, so the batch is processed again (seed scenarios 1, 25, 28).
"""

from __future__ import annotations

import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, Producer, TopicPartition

from harness.history import values
from harness.history.schema import acks
from harness.workload.config import TransformerConfig
from harness.workload.producer import (delivery_recorder, drain, message, produce, record_invocations,
                                       record_not_sent)
from harness.workload.reading import next_offsets, record_read
from harness.workload.transactions import TIMEOUT_S, Transactions
from harness.workload.worker import Worker, register

POLL_S = 0.1


@register("transformer")
class TransformerWorker(Worker):
    config: TransformerConfig

    def run(self) -> None:
        cfg, pid = self.config, self.runtime.producer_id
        self.generation = 0
        self.consumer = Consumer(self.consumer_config(**{"group.id": cfg.group}))
        self.producer = Producer(self.producer_config(**{"transactional.id": self.runtime.transactional_id}))
        self.transactions = Transactions(self.producer, self.history, pid)
        self.transactions.init()
        self.on_delivery = delivery_recorder(self.history, pid, acks(self.runtime.producer_client))
        self.padding = values.padding(cfg.value_size)
        self.seq = self.txn = 0
        self.consumer.subscribe([cfg.input], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_lost)
        try:
            while not self.stopping:
                records = [m for m in self.consumer.consume(cfg.batch_size, POLL_S) if not m.error()]
                if records:
                    self._transform(records)
                self.history.maybe_flush()
        finally:
            self.consumer.close()
            drain(self.producer)

    def _transform(self, records: list[Message]) -> None:
        cfg, pid = self.config, self.runtime.producer_id
        self.txn += 1
        txn = self.txn
        self.transactions.begin(txn)
        keys, sources = [], []
        for msg in records:
            if cfg.processing_ms:
                time.sleep(cfg.processing_ms / 1000)
            source = record_read(self.history, msg, self.generation, in_txn=txn)
            key = msg.key().decode(errors="replace") if msg.key() is not None else None
            keys += [key] * cfg.outputs_per_input
            sources += [source] * cfg.outputs_per_input
        first = self.seq
        topics = [cfg.output] * len(keys)
        record_invocations(self.history, pid, first, txn, topics, keys, cfg.value_size, sources)
        self.seq += len(keys)
        messages = [message(pid, first + i, txn, self.padding, key) for i, key in enumerate(keys)]
        refused = produce(self.producer, topics, messages, self.on_delivery, lambda: self.stopping)
        if refused:  # the transaction cannot be whole: abort it, the batch comes round again
            for seqs, error in refused:
                record_not_sent(self.history, pid, seqs, error)
            self.transactions.end(txn, commit=False)
            self._rewind()
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in next_offsets(records).items()]
        try:
            self.transactions.call(txn, "send-offsets", lambda: self.producer.send_offsets_to_transaction(
                offsets, self.consumer.consumer_group_metadata(), TIMEOUT_S))
            committed = self.transactions.end(txn, commit=True)
        except KafkaException:  # not fatal (that raised Fenced): abort, and the batch comes round again
            committed = self.transactions.end(txn, commit=False)
        if not committed:
            self._rewind()

    def _rewind(self) -> None:
        """Back to the committed offsets, so an aborted batch is processed again. Reads after a
        rewind belong to a new generation: going back is expected there, not an anomaly."""
        assignment = self.consumer.assignment()
        if not assignment:
            return
        self.generation += 1
        for tp in self.consumer.committed(assignment, timeout=TIMEOUT_S):
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
            self.event("seek", topic=tp.topic, partition=tp.partition, offset=tp.offset,
                       generation=self.generation)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.generation += 1
        for tp in partitions:
            self.event("assign", topic=tp.topic, partition=tp.partition, generation=self.generation)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.event("revoke", topic=tp.topic, partition=tp.partition, generation=self.generation)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.event("lost", topic=tp.topic, partition=tp.partition, generation=self.generation)
