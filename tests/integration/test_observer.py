"""The observer (its own process) on a real cluster: it sees a leader killed, the ISR shrink and
grow back, and a consumer group rebalance, and records them as events the checker's evidence
can use."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, TopicPartition

from harness.clientlog import CLIENT_LOG
from harness.events import read_events
from harness.cluster.backends import BackendName
from harness.observe.observer import ObserverProcess
from harness.observe.sample import read_samples
from harness.workload.config import ConsumerConfig, ProducerConfig, Semantics
from harness.workload.launcher import Workload
from tests.support import eventually

pytestmark = pytest.mark.cluster


def observed(run_dir, kind: str, **fields) -> list[dict]:
    return [e for e in read_events(run_dir) if e["source"] == "observer" and e["kind"] == kind
            and all(e.get(k) == v for k, v in fields.items())]


def test_leader_kill_shows_as_leader_change_isr_shrink_and_expand(cluster, topic_name, tmp_path):
    cluster.admin().create_topic(topic_name, 3, 3, {"min.insync.replicas": "2"})
    cluster.wait_in_sync([topic_name])
    leader = cluster.leader(topic_name, 0)
    group = f"g-{topic_name}"  # a group with commits: asking about it while brokers die once aborted librdkafka
    committer = Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": group, "logger": CLIENT_LOG})
    committer.commit(offsets=[TopicPartition(topic_name, 0, 0)], asynchronous=False)
    committer.close()
    with ObserverProcess(BackendName.LOCAL, cluster.name, tmp_path, [topic_name], {group: [topic_name]},
                         interval_s=0.2) as observer:
        eventually(lambda: len(read_samples(tmp_path)) >= 2)
        cluster.node(leader).kill()
        eventually(lambda: observed(tmp_path, "leader-change", topic=topic_name, partition=0), timeout=60)
        eventually(lambda: observed(tmp_path, "isr-shrink", topic=topic_name, partition=0), timeout=60)
        cluster.node(leader).start()
        eventually(lambda: observed(tmp_path, "isr-expand", topic=topic_name, partition=0), timeout=120)
    assert observer.popen.returncode == 0, "it lived through the kill, and SIGTERM ended it cleanly"

    [change] = observed(tmp_path, "leader-change", topic=topic_name, partition=0)[:1]
    assert f"leader {leader} → " in change["text"]
    samples = read_samples(tmp_path)
    before = next(p for p in samples[0].partitions if p.partition == 0)
    assert before.leader == leader and set(before.isr) == {1, 2, 3} and before.epoch >= 0
    after_kill = [p for s in samples if s.partitions for p in s.partitions if p.partition == 0 and leader not in p.isr]
    assert after_kill and all(p.leader != leader and p.epoch > before.epoch for p in after_kill)


def test_consumer_group_members_assignment_and_lag_are_sampled(cluster, topic_name, tmp_path):
    cluster.admin().create_topic(topic_name, 3, 3, {"min.insync.replicas": "2"})
    cluster.wait_in_sync([topic_name])
    group = f"g-{topic_name}"
    with Workload(tmp_path, cluster.client_bootstrap_servers, Semantics.AT_LEAST_ONCE) as workload, \
            ObserverProcess(BackendName.LOCAL, cluster.name, tmp_path, [topic_name], {group: [topic_name]},
                            interval_s=0.2):
        assert workload.start(ProducerConfig(name="p1", topics=[topic_name], messages=3000)).wait(60) == 0
        consumer = workload.start(ConsumerConfig(name="c1", topics=[topic_name], group=group, processing_ms=1))

        def drained() -> bool:
            last = read_samples(tmp_path)[-1].groups
            return bool(last) and len(last[0].assignment) == 3 and all(lag == 0 for *_, lag in last[0].lag)

        eventually(drained, timeout=120)
        consumer.stop()

    groups = [g for s in read_samples(tmp_path) for g in s.groups]
    assert any(lag > 0 for g in groups for *_, lag in g.lag), "lag was seen before the consumer caught up"
    stable = [g for g in groups if g.state == "STABLE"]
    assert stable and {member for *_, member in stable[-1].assignment} == set(stable[-1].members)
    assert observed(tmp_path, "rebalance", group=group), "joining the group shows as a rebalance"
