"""The final read: every partition from its earliest offset to its end, with proof of the end.

Before reading, the end of each partition is fixed (the high watermark, or for read_committed
the last stable offset) and recorded as a `target` event, with the log start as `log-start`.
Reaching a partition's end is recorded as an `end` event at the offset reached; a partition
not finished within the time bound gets an `incomplete` event instead, so the checker never
calls anything lost beyond what was proven read.
"""

from __future__ import annotations

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from harness.workload.config import FINAL_READ_GROUP_PREFIX, FinalReadConfig
from harness.workload.reading import record_read
from harness.workload.worker import Worker, register


@register("final-read")
class FinalReadWorker(Worker):
    config: FinalReadConfig

    def run(self) -> None:
        cfg = self.config
        deadline = time.monotonic() + cfg.timeout_s
        consumer = Consumer(self.consumer_config(**{
            "group.id": f"{FINAL_READ_GROUP_PREFIX}{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
            "enable.partition.eof": True, "auto.offset.reset": "earliest"}))
        try:
            targets = self._targets(consumer, deadline)
            pending = set(targets)
            consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in sorted(targets)])
            while pending and not self.stopping and time.monotonic() < deadline:
                for msg in consumer.consume(1000, 0.2):
                    tp = (msg.topic(), msg.partition())
                    if msg.error() is None:
                        record_read(self.history, msg, generation=0)
                    elif msg.error().code() == KafkaError._PARTITION_EOF:
                        if tp in pending and msg.offset() >= targets[tp][1]:
                            pending.discard(tp)
                            self.event("end", topic=tp[0], partition=tp[1], offset=msg.offset())
                    else:
                        self.event("error", topic=tp[0], partition=tp[1], detail=msg.error().name())
                self.history.maybe_flush()
            positions = {(p.topic, p.partition): p.offset for p in consumer.position(
                [TopicPartition(t, p) for t, p in pending])} if pending else {}
            for topic, partition in sorted(pending):
                self.event("incomplete", topic=topic, partition=partition,
                           offset=positions.get((topic, partition), -1), detail=f"not done in {cfg.timeout_s}s")
        finally:
            consumer.close()

    def _targets(self, consumer: Consumer, deadline: float) -> dict[tuple[str, int], tuple[int, int]]:
        """(log start, end) of every partition, retried while the cluster settles."""
        retrying = Retrying(stop=stop_after_delay(max(1.0, deadline - time.monotonic())),
                            wait=wait_exponential(multiplier=0.1, max=2), reraise=True,
                            retry=retry_if_exception_type(KafkaException))
        metadata = retrying(lambda: consumer.list_topics(timeout=10))
        targets = {}
        for topic in self.config.topics:
            if topic not in metadata.topics or metadata.topics[topic].error is not None:
                self.event("error", topic=topic, detail="topic not found by the final read")
                continue
            for partition in sorted(metadata.topics[topic].partitions):
                tp = TopicPartition(topic, partition)
                low, high = retrying(lambda: consumer.get_watermark_offsets(tp, timeout=10, cached=False))
                targets[(topic, partition)] = (low, high)
                self.event("log-start", topic=topic, partition=partition, offset=low)
                self.event("target", topic=topic, partition=partition, offset=high)
        return targets
