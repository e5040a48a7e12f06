"""The main job until experiments land: a produce/consume round trip through a broker kill.

Three nodes, a topic with RF 3 and min ISR 2, an idempotent acks=all producer; the leader of
partition 0 is SIGKILLed a third of the way through. Every acknowledged message must be read
back. Prints what happened and returns whether nothing acknowledged was lost.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer
from rich.console import Console

from harness.clientlog import CLIENT_LOG
from harness.cluster.local import LocalCluster
from harness.cluster.spec import ClusterSpec

TOPIC = "demo"


def run_demo(kafka_version: str | None, messages: int, out: Console) -> bool:
    spec = ClusterSpec(nodes=3, kafka_version=kafka_version, name="demo", subnet=1, port_base=19500)
    with tempfile.TemporaryDirectory(prefix="kafka-chaos-demo-") as workdir:
        cluster = LocalCluster(spec, Path(workdir))
        out.print(f"starting 3 nodes of Kafka {cluster.dist.version}...")
        started = time.monotonic()
        with cluster:
            out.print(f"ready in {time.monotonic() - started:.1f}s at {cluster.bootstrap_servers}")
            cluster.admin().create_topic(TOPIC, 6, 3, {"min.insync.replicas": "2"})
            cluster.wait_in_sync([TOPIC])
            acked, failed, victim = produce_through_kill(cluster, messages, out)
            read = consume_all(cluster.bootstrap_servers, expected=acked)
            out.print(f"restarting node {victim}...")
            cluster.node(victim).start()
            cluster.wait_in_sync([TOPIC])
    lost = acked - read
    out.print(f"sent {messages}, acked {len(acked)}, failed {failed}, read back {len(read & acked)} "
              f"of the acked: lost {len(lost)}")
    out.print("[bold green]PASS[/]: no acknowledged write was lost" if not lost
              else f"[bold red]FAIL[/]: {len(lost)} acknowledged writes lost, e.g. {sorted(lost)[:5]}")
    return not lost


def produce_through_kill(cluster: LocalCluster, messages: int, out: Console) -> tuple[set[int], int, int]:
    acked: set[int] = set()
    failures = []

    def on_delivery(err, msg) -> None:
        (failures.append(err) if err else acked.add(int(msg.value())))

    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5, "logger": CLIENT_LOG})
    victim = None
    for seq in range(messages):
        if victim is None and seq == messages // 3:
            producer.flush(30)
            victim = cluster.leader(TOPIC, 0)
            out.print(f"{len(acked)} acked; SIGKILL node {victim}, leader of {TOPIC}-0")
            cluster.node(victim).kill()
        while True:
            try:
                producer.produce(TOPIC, value=str(seq).encode(), key=str(seq % 64).encode(),
                                 on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    producer.flush(120)
    out.print(f"new leader of {TOPIC}-0: node {cluster.leader(TOPIC, 0)}")
    return acked, len(failures), victim


def consume_all(bootstrap: str, expected: set[int], timeout_s: float = 60) -> set[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "demo-reader",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "logger": CLIENT_LOG})
    consumer.subscribe([TOPIC])
    seen: set[int] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while not expected <= seen and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                seen.add(int(msg.value()))
    finally:
        consumer.close()
    return seen
