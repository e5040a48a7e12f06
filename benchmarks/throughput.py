"""A plain producer's throughput through one bootstrap address: what the fault-layer benchmarks
compare (benchmarks/lazyfs.py, benchmarks/kafkaproxy.py)."""

from __future__ import annotations

import time

from confluent_kafka import Producer

from harness.clientlog import CLIENT_LOG


def produce_rate(bootstrap: str, topic: str, records: int, size: int = 1000) -> float:
    """Records per second acknowledged (acks=all, librdkafka's defaults otherwise) for `records`
    sends of `size` bytes, timed from the first send to the last acknowledgement."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "logger": CLIENT_LOG})
    producer.list_topics(topic, timeout=30)  # connected before the clock starts
    value, failed = b"x" * size, []
    started = time.monotonic()
    for _ in range(records):
        while True:
            try:
                producer.produce(topic, value, on_delivery=lambda err, msg: failed.append(err) if err else None)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    if producer.flush(300) or failed:
        raise SystemExit(f"not every send was acknowledged: {failed[:3]}")
    return records / (time.monotonic() - started)
