"""The local backend against real Kafka: failover, fencing, the lab network."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from confluent_kafka import Producer

from harness.clientlog import CLIENT_LOG
from harness.cluster.spec import NetworkMode
from tests.support import eventually, read_all

pytestmark = pytest.mark.cluster


def produce(bootstrap: str, topic: str, values: range) -> tuple[set[int], list]:
    """Send `values` with acks=all; returns (acked values, delivery errors)."""
    acked, errors = set(), []

    def on_delivery(err, msg):
        (errors.append(err) if err else acked.add(int(msg.value())))

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 5, "logger": CLIENT_LOG})
    for value in values:
        producer.produce(topic, value=str(value).encode(), key=str(value % 97).encode(), on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(120) == 0, "deliveries still pending after 120 s"
    return acked, errors


def test_leader_kill_fails_over_without_losing_acked_writes(cluster, topic_name):
    cluster.admin().create_topic(topic_name, 6, 3, {"min.insync.replicas": "2"})
    cluster.wait_in_sync([topic_name])

    acked, errors = produce(cluster.bootstrap_servers, topic_name, range(10_000))
    assert errors == [] and acked == set(range(10_000))

    before = cluster.partition(topic_name, 0)
    victim = before.leader
    cluster.node(victim).kill()
    assert cluster.node(victim).status == "dead"

    def new_leader_from_isr():
        after = cluster.partition(topic_name, 0)
        assert after.leader is not None and after.leader != victim
        assert after.leader in before.isr
        return after.leader

    eventually(new_leader_from_isr, timeout=60)

    more, errors = produce(cluster.bootstrap_servers, topic_name, range(10_000, 12_000))
    assert errors == [] and more == set(range(10_000, 12_000)), "producing stopped after failover"

    read = [int(m.value()) for m in read_all(cluster.bootstrap_servers, topic_name, 6)]
    assert set(read) >= acked | more, f"acked writes missing: {sorted((acked | more) - set(read))[:10]}"

    cluster.node(victim).start()

    def rejoined():
        assert victim in cluster.isr(topic_name, 0)

    eventually(rejoined, timeout=90)


def test_paused_node_is_fenced_from_isr_and_returns_on_resume(cluster, topic_name):
    cluster.admin().create_topic(topic_name, 3, 3)
    cluster.wait_in_sync([topic_name])
    paused = cluster.partition(topic_name, 0).leader
    cluster.node(paused).pause()
    assert cluster.node(paused).status == "paused"

    def fenced():
        assert all(paused not in p.isr for p in cluster.partitions(topic_name))

    eventually(fenced, timeout=60)  # broker.session.timeout.ms (9 s) plus the ISR update
    cluster.node(paused).resume()

    def back_in_isr():
        assert all(paused in p.isr for p in cluster.partitions(topic_name))

    eventually(back_in_isr, timeout=90)


def test_active_controller_is_a_live_controller(cluster):
    controller = cluster.active_controller()
    assert controller in {n.id for n in cluster.controllers}
    assert cluster.node(controller).status == "running"


def test_nodes_reachable_from_root_namespace_and_from_each_other(cluster):
    if cluster.network != NetworkMode.NAMESPACES:
        pytest.skip("no CAP_NET_ADMIN: nodes share loopback")
    for node in cluster.nodes.values():
        host, port = node.address.split(":")
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    probe = "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)"
    for source in cluster.nodes.values():
        for target in cluster.nodes.values():
            if source is target:
                continue
            host, port = target.address.split(":")
            subprocess.run(["ip", "netns", "exec", source.layout.namespace, sys.executable, "-c", probe, host, port],
                           check=True, timeout=30)
