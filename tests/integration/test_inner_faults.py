"""Faults from inside a node and on the protocol: power loss (lazyfs) and Kafka-protocol faults
(the protocol proxy); clock skew is in test_clock_skew.py. One cluster for the module,
provisioned with both; each fault's effect, its heal, and nothing left behind. CI runs one test
per family (power loss judged by the checker, a delayed API); the rest are slow."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from harness.clientlog import CLIENT_LOG
from harness.checker.check import check
from harness.checker.model import Verdict
from harness.cluster.local import LocalCluster
from harness.cluster.spec import ClusterSpec, NodeHooks, ProxySpec
from harness.faults import heal_leftovers
from harness.history.load import load_history
from harness.kafkaproxy import client as kafkaproxy
from harness.lazyfs import mount as lazy
from harness.workload.config import ProducerConfig, Semantics
from harness.workload.launcher import Workload
from tests.support import eventually, fault_env, produce, run_fault

pytestmark = pytest.mark.cluster

# Clock skew has a module (and cluster) of its own: libfaketime slows every clock read of a JVM.
SPEC = ClusterSpec(name="flt", subnet=70, port_base=24000, hooks=NodeHooks(lazyfs=True), proxy=ProxySpec(kafka=True))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with LocalCluster(SPEC, tmp_path_factory.mktemp("inner")) as started:
        yield started
    assert lazy.mounts("flt") == [] and lazy.daemons("flt") == [], "a lazyfs mount outlived its cluster"
    assert kafkaproxy.processes("flt") == [], "the protocol proxy outlived its cluster"


@pytest.fixture
def env(cluster, tmp_path):
    with fault_env(cluster, tmp_path) as env:
        yield env
    heal_leftovers(cluster)
    cluster.wait_ready()
    for node in cluster.nodes.values():
        assert cluster.has_lazy_disk(node.id) and sees_lazyfs(node), "every data directory back on lazyfs"
    assert cluster.kafka_proxy.ask({"op": "rules"})["rules"] in ({}, {"1": [], "2": [], "3": []}), "a rule survived"


def sees_lazyfs(node) -> bool:
    """The node's own mount namespace, not only the harness's, has its data directory on lazyfs."""
    mounts = [line.split() for line in Path(f"/proc/{node.pid}/mounts").read_text().splitlines()]
    return any(point == str(node.data_dir) and kind == "fuse.lazyfs" for _, point, kind, *_ in mounts)


def log_sizes(cluster, topic: str) -> dict[int, int]:
    """Bytes of partition 0's first segment as each node's disk really holds them."""
    return {n.id: (n.backing_dir / f"{topic}-0" / "00000000000000000000.log").stat().st_size
            for n in cluster.nodes.values()}


# ---- power loss -----------------------------------------------------------------------------------


def test_power_loss_of_every_replica_loses_acknowledged_writes_not_fsynced_and_the_checker_finds_them(
        cluster, env, tmp_path):
    """acks=all under default flush settings: every replica had the writes in its page cache
    only. A topic with flush.messages=1, fsynced before each acknowledgement, loses nothing."""
    lossy, flushed = "lossy", "flushed"
    cluster.admin().create_topic(lossy, 1, 3, {"min.insync.replicas": "2"})
    cluster.admin().create_topic(flushed, 1, 3, {"min.insync.replicas": "2", "flush.messages": "1"})
    cluster.wait_in_sync([lossy, flushed])
    run = tmp_path / "run"
    with Workload(run, cluster.bootstrap_servers, Semantics.AT_LEAST_ONCE) as workload:
        assert workload.start(ProducerConfig(name="p1", topics=[lossy, flushed], messages=400)).wait(90) == 0
        before = {lossy: log_sizes(cluster, lossy), flushed: log_sizes(cluster, flushed)}
        assert all(size > 0 for sizes in before.values() for size in sizes.values())
        with run_fault(env, {"fault": "power-loss", "target": "all"}):
            assert all(n.status == "dead" for n in cluster.nodes.values())
            assert log_sizes(cluster, lossy) == {1: 0, 2: 0, 3: 0}, "acknowledged, never fsynced: gone on every node"
            assert log_sizes(cluster, flushed) == before[flushed], "fsynced before the ack (flush.messages=1): kept"
        heal_leftovers(cluster)  # as a run does at the end of its fault phase, while the nodes start
        assert all(sees_lazyfs(n) for n in cluster.nodes.values()), "the sweeps left each node its lazyfs"
        cluster.wait_in_sync([lossy, flushed])
        # More writes than were lost: the final read proves it read past every lost offset.
        assert workload.start(ProducerConfig(name="p2", topics=[lossy, flushed], messages=800)).wait(90) == 0
        assert [r.returncode for r in workload.final_read([lossy, flushed], timeout_s=60)] == [0, 0]
    sends = load_history(run).sends
    first = sends[(sends["worker"] == "p1") & (sends["outcome"] == "ok")]
    assert (first["topic"] == lossy).sum() > 0 and (first["topic"] == flushed).sum() > 0
    result = check(run)
    assert result.verdict == Verdict.VIOLATION
    lost = result.anomalies["lost-write"]
    assert len(lost) == (first["topic"] == lossy).sum(), "every acknowledged write of p1 to the lossy topic"
    assert {e["topic"] for e in lost} == {lossy}, "none of the flushed topic"


@pytest.mark.slow
def test_power_loss_of_one_node_is_covered_by_replication(cluster, env):
    topic = "one-down"
    cluster.admin().create_topic(topic, 1, 3, {"min.insync.replicas": "2"})
    cluster.wait_in_sync([topic])
    assert produce(cluster, topic, 100) == 100
    victim = cluster.leader(topic, 0)
    with run_fault(env, {"fault": "power-loss", "target": victim}):
        assert log_sizes(cluster, topic)[victim] == 0
        assert produce(cluster, topic, 100) == 100, "the survivors take writes"
    cluster.wait_in_sync([topic])
    assert cluster.admin().end_offsets([(topic, 0)]) == {(topic, 0): 200}
    eventually(lambda: log_sizes(cluster, topic)[victim] > 0, timeout=60)  # caught up from the others


# ---- Kafka-protocol faults ------------------------------------------------------------------------


def counts(cluster, api: str, what: str) -> int:
    return sum(apis.get(api, {}).get(what, 0) for apis in cluster.protocol_stats().values())


def round_trips(cluster, topic: str, count: int = 5, **config) -> tuple[list[float], list[str]]:
    """(latencies in s, error names) of `count` sends one at a time from a connected producer."""
    producer = Producer({"bootstrap.servers": cluster.client_bootstrap_servers, "acks": "all", "linger.ms": 0,
                         "logger": CLIENT_LOG, **config})
    producer.list_topics(topic, timeout=30)
    latencies, errors = [], []
    for _ in range(count):
        producer.produce(topic, b"x", partition=0, on_delivery=lambda err, msg: (
            errors.append(err.name()) if err else latencies.append(msg.latency())))
        producer.flush(60)
    return latencies, errors


def test_delay_response_holds_only_the_chosen_api(cluster, env):
    topic = "delayed"
    cluster.admin().create_topic(topic, 1, 3, {"min.insync.replicas": "2"})
    cluster.wait_in_sync([topic])
    with run_fault(env, {"fault": "delay-response", "apis": ["Produce"], "ms": 700}):
        latencies, errors = round_trips(cluster, topic)
        metadata = Producer({"bootstrap.servers": cluster.client_bootstrap_servers, "logger": CLIENT_LOG})
        started = time.monotonic()
        metadata.list_topics(topic, timeout=30)
        metadata_s = time.monotonic() - started
    assert errors == [] and min(latencies) >= 0.7, latencies
    assert metadata_s < 0.5, "Metadata is not delayed"
    assert counts(cluster, "Produce", "delayed") >= 5 and counts(cluster, "Metadata", "delayed") == 0
    latencies, errors = round_trips(cluster, topic)
    assert errors == [] and max(latencies) < 0.5, "healed"


@pytest.mark.slow
def test_error_response_answers_the_chosen_error_to_the_chosen_api(cluster, env):
    topic = "refused"
    cluster.admin().create_topic(topic, 1, 3, {"min.insync.replicas": "2"})
    cluster.wait_in_sync([topic])
    # A non-retriable error, so the producer reports it: librdkafka retries NOT_LEADER_OR_FOLLOWER
    # without counting it against `retries` (a leader change is not the batch's fault), until
    # message.timeout.ms (measured: three sends outlived 60 s flushes each).
    with run_fault(env, {"fault": "error-response", "apis": ["Produce"], "error": "INVALID_RECORD"}):
        _, errors = round_trips(cluster, topic, 3, retries=0, **{"enable.idempotence": False})
        consumer = Consumer({"bootstrap.servers": cluster.client_bootstrap_servers, "group.id": "e",
                             "logger": CLIENT_LOG})
        consumer.assign([TopicPartition(topic, 0, 0)])
        read = [m for m in (consumer.poll(1) for _ in range(20)) if m is not None and not m.error()]
        consumer.close()
    assert errors == ["INVALID_RECORD"] * 3, errors
    assert len(read) == 3, "the broker did write them; Fetch answers as usual"
    assert counts(cluster, "Produce", "errored") >= 3 and counts(cluster, "Fetch", "errored") == 0
    _, errors = round_trips(cluster, topic, 3, retries=0)
    assert errors == [], "healed"


@pytest.mark.slow
def test_dropped_produce_responses_duplicate_writes_without_idempotence_and_the_checker_counts_them(
        cluster, env, tmp_path):
    """The broker wrote each batch whose response was dropped; the producer sent it again. The
    idempotent producer's copies are recognised by sequence number; the other's are written twice,
    and the checker finds every extra copy the broker holds."""
    plain, idempotent = "dropped", "dropped-idempotent"
    for topic in (plain, idempotent):
        cluster.admin().create_topic(topic, 1, 3, {"min.insync.replicas": "2"})
    cluster.wait_in_sync([plain, idempotent])
    run = tmp_path / "run"
    with Workload(run, cluster.client_bootstrap_servers, Semantics.AT_LEAST_ONCE) as workload:
        with run_fault(env, {"fault": "drop-response", "apis": ["Produce"], "share": 0.3}):
            senders = [workload.start(ProducerConfig(name="p1", topics=[plain], messages=300, rate=100, client={
                           "enable.idempotence": False, "retries": 100, "retry.backoff.ms": 20})),
                       workload.start(ProducerConfig(name="p2", topics=[idempotent], messages=300, rate=100))]
            assert [s.wait(120) for s in senders] == [0, 0]
        assert [r.returncode for r in workload.final_read([plain, idempotent], timeout_s=60)] == [0, 0]
    assert counts(cluster, "Produce", "dropped") > 0
    sends = load_history(run).sends
    assert (sends["outcome"] == "ok").all(), sends["outcome"].value_counts()
    ends = cluster.admin().end_offsets([(plain, 0), (idempotent, 0)])
    assert ends[(idempotent, 0)] == (sends["worker"] == "p2").sum(), "the idempotent producer: each record once"
    extra = ends[(plain, 0)] - (sends["worker"] == "p1").sum()
    assert extra > 0, "each dropped response's batch was written again"
    duplicates = check(run).anomalies.get("duplicate", [])
    assert sum(d["places"] - 1 for d in duplicates) == extra, "the checker finds every extra copy"


@pytest.mark.slow
def test_every_response_librdkafka_gets_is_read_at_its_version(cluster, env, tmp_path):
    """The proxy reads every response a producer, a consumer group and a transaction get, at
    the version librdkafka negotiated: none unreadable (an error rule needs exactly that)."""
    from harness.faults.protocol import API_KEYS
    from harness.workload.config import ConsumerConfig, ProducerConfig, Semantics, TransactionSpec
    from harness.workload.launcher import Workload

    topic = "walked"
    cluster.admin().create_topic(topic, 2, 3, {"min.insync.replicas": "2"})
    cluster.wait_in_sync([topic])
    rule = {"tag": "walk", "apis": sorted(API_KEYS.values()), "action": "inspect"}
    for node in cluster.node_ids:
        cluster.add_protocol_rule(node, rule)
    try:
        with Workload(tmp_path / "run", cluster.client_bootstrap_servers, Semantics.EXACTLY_ONCE) as workload:
            assert workload.start(ProducerConfig(name="p1", topics=[topic], messages=300,
                                                 transactions=TransactionSpec(size=50))).wait(90) == 0
            workload.start(ConsumerConfig(name="c1", topics=[topic], group="walk"))
            eventually(lambda: counts(cluster, "OffsetCommit", "inspected") > 0, timeout=60)
            workload.stop_all()
    finally:
        cluster.remove_protocol_rules("walk")
    stats = cluster.protocol_stats()
    unparsed = {api: c["unparsed"] for apis in stats.values() for api, c in apis.items() if c.get("unparsed")}
    assert unparsed == {}, unparsed
    walked = {api for apis in stats.values() for api, c in apis.items() if c.get("inspected")}
    assert {"Produce", "Fetch", "Metadata", "FindCoordinator", "InitProducerId", "AddPartitionsToTxn", "EndTxn",
            "JoinGroup", "SyncGroup", "OffsetCommit", "OffsetFetch", "ApiVersions"} <= walked, walked
