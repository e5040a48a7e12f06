"""Clock skew on a real cluster: one broker's wall clock jumps (its record timestamps and its own
log lines move, no other node's do) and jumps back at the heal; nothing left behind. A cluster of
its own, with libfaketime preloaded into every JVM."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

import pytest
from confluent_kafka import Consumer, TopicPartition

from harness.clientlog import CLIENT_LOG
from harness.cluster.local import LocalCluster
from harness.cluster.spec import ClusterSpec, NodeHooks
from harness.faults import heal_leftovers
from tests.support import fault_env, produce, run_fault

pytestmark = pytest.mark.cluster

SPEC = ClusterSpec(name="clk", subnet=72, port_base=26000, hooks=NodeHooks(faketime=True))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with LocalCluster(SPEC, tmp_path_factory.mktemp("clock")) as started:
        yield started


@pytest.fixture
def env(cluster, tmp_path):
    with fault_env(cluster, tmp_path) as env:
        yield env
    heal_leftovers(cluster)
    cluster.wait_ready()
    for node in cluster.nodes.values():
        assert cluster.reset_clock(node.id) is False, "every clock back to the real time"


def append_times(cluster, topic: str) -> list[float]:
    """LogAppendTime of each record of partition 0 (the leader's clock), in seconds."""
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": "clock", "logger": CLIENT_LOG,
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    found, deadline = [], time.monotonic() + 30
    while len(found) < 5 and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            found.append(msg.timestamp()[1] / 1000)
    consumer.close()
    return found


def test_clock_skew_moves_one_broker_clock_and_heal_moves_it_back(cluster, env):
    topic = "clock"
    cluster.admin().create_topic(topic, 1, 3, {"min.insync.replicas": "2", "message.timestamp.type": "LogAppendTime"})
    cluster.wait_in_sync([topic])
    leader = cluster.leader(topic, 0)
    with run_fault(env, {"fault": "clock-skew", "target": leader, "offset_s": 3600}):
        time.sleep(2.5)  # libfaketime reads its file again once its cache is over a second old
        sent = time.time()
        assert produce(cluster, topic, 5) == 5
        stamped = append_times(cluster, topic)
        cluster.admin().create_topic("clock-mark", 1, 3)  # every node logs the log it creates
        cluster.wait_in_sync(["clock-mark"])
    assert len(stamped) == 5 and all(abs(t - sent - 3600) < 10 for t in stamped), (sent, stamped)
    ahead = {n.id: [line for line in n.log_file.read_text(errors="replace").splitlines()[-300:]
                    if _logged_at(line) - time.time() > 3000] for n in cluster.nodes.values()}
    assert ahead[leader], "the skewed broker's own log lines carry its time"
    assert all(not lines for node, lines in ahead.items() if node != leader), "no other node's clock moved"
    time.sleep(2.5)
    now = time.time()
    assert produce(cluster, topic, 5) == 5
    assert abs(append_times_after(cluster, topic, 5)[-1] - now) < 10, "healed: back to the real time"


def append_times_after(cluster, topic: str, skip: int) -> list[float]:
    times = []
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": "clock2", "logger": CLIENT_LOG})
    consumer.assign([TopicPartition(topic, 0, skip)])
    deadline = time.monotonic() + 30
    while len(times) < 5 and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            times.append(msg.timestamp()[1] / 1000)
    consumer.close()
    return times


def _logged_at(line: str) -> float:
    found = re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\]", line)
    if not found:
        return 0.0
    at = datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    return at.timestamp() + int(found[2]) / 1000
