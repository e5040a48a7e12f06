"""The docker backend on a real Docker engine: each fault kind it offers shows its effect on real
containers and heals; nothing is left behind, and nothing without our label is touched.

One cluster serves the whole module (its boot is most of the cost); every test heals what it
broke. The run-level tests (verdicts, a SIGKILLed harness) start the harness's own run cluster.
"""

from __future__ import annotations

import random
import shutil
import time

import pytest

from harness.clientlog import CLIENT_LOG
from harness.cluster import metadata
from harness.cluster.containers.cluster import DockerCluster
from harness.cluster.containers.spec import DockerSpec
from harness.cluster.spec import ClusterSpec, ProxySpec
from harness.events import EventLog
from harness.faults import Env, heal_leftovers
from harness.mounts import FILLER
from harness.net import iptables
from harness.process import ProcessState
from tests.integration.docker_support import docker_leftovers
from tests.integration.test_faults import latencies_ms, make_topic, send
from tests.support import eventually, run_fault

pytestmark = [pytest.mark.cluster, pytest.mark.docker]

# Its own subnet and ports; clients may go through Toxiproxy, replication goes direct (so a
# partition between nodes cuts it); each node on a tmpfs of its own, for the full-disk fault.
SPEC = ClusterSpec(name="dkit", subnet=120, port_base=40000, proxy=ProxySpec(clients=True), disk_mb=256,
                   docker=DockerSpec())


@pytest.fixture(scope="module")
def docker_cluster(tmp_path_factory):
    with DockerCluster(SPEC, tmp_path_factory.mktemp("docker")) as cluster:
        yield cluster
    assert docker_leftovers("dkit") == []


@pytest.fixture
def cluster(docker_cluster):
    """The module's cluster; whatever a test broke (nodes, rules, toxics, disks) is healed after it."""
    yield docker_cluster
    heal_leftovers(docker_cluster)
    docker_cluster.wait_ready()
    for node in docker_cluster.nodes.values():
        assert iptables.tagged(node.netns()) == [], "a fault's rule survived its heal"
        assert node.status == ProcessState.RUNNING
        assert not (node.disk_dir / FILLER).exists(), "a full disk survived its heal"


@pytest.fixture
def env(cluster, tmp_path):
    events = EventLog(tmp_path / "events.jsonl")
    yield Env(cluster=cluster, events=events, rng=random.Random(7))
    events.close()


def test_nodes_are_containers_configured_like_local_nodes(cluster):
    assert cluster.bootstrap_servers == "198.18.120.11:9092,198.18.120.12:9092,198.18.120.13:9092"
    for node in cluster.nodes.values():
        config = node.read("/etc/kafka-chaos/server.properties").decode()
        assert f"node.id={node.id}\n" in config and "min.insync.replicas=2\n" in config
        assert config == (node.dir / "server.properties").read_text()
    assert cluster.active_controller() in cluster.nodes
    labels = cluster.api.inspect_container(cluster.node(1).name)["Config"]["Labels"]
    assert labels["kafka-chaos.cluster"] == "dkit" and labels["kafka-chaos.node"] == "1"


def test_kill_moves_leadership_and_the_heal_brings_the_node_back(cluster, env, topic_name):
    topic = make_topic(cluster, topic_name, partitions=1)
    leader = cluster.leader(topic, 0)
    pid = cluster.node(leader).pid
    with run_fault(env, {"fault": "kill", "target": leader}):
        assert cluster.node(leader).status == ProcessState.DEAD and cluster.node(leader).pid is None
        assert not _alive(pid), "the JVM is gone"
        eventually(lambda: cluster.leader(topic, 0) not in (None, leader), timeout=60)
    eventually(lambda: leader in cluster.isr(topic, 0), timeout=90)


def _alive(pid: int) -> bool:
    import psutil

    return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


def test_one_way_partition_takes_the_cut_node_out_of_the_isr(cluster, env, topic_name):
    topic = make_topic(cluster, topic_name, partitions=1)
    state = cluster.partition(topic, 0)
    follower = next(r for r in state.replicas if r != state.leader)
    with run_fault(env, {"fault": "partition", "shape": "isolate", "target": follower, "one_way": True}):
        others = [n for n in cluster.nodes.values() if n.id != follower]
        assert iptables.tagged(cluster.node(follower).netns()), "the cut node drops what it receives"
        assert all(iptables.tagged(n.netns()) == [] for n in others), "one way: the others drop nothing"
        eventually(lambda: follower not in cluster.isr(topic, 0), timeout=90)
    eventually(lambda: follower in cluster.isr(topic, 0), timeout=120)


def test_cut_clients_stops_the_path_and_heal_restores_it(cluster, env, topic_name):
    topic = make_topic(cluster, topic_name, partitions=1)
    with run_fault(env, {"fault": "cut-clients"}):
        acked, errors = send(cluster.bootstrap_servers, topic, 5, **{"message.timeout.ms": 4000})
        assert acked == [] and len(errors) == 5
    acked, errors = send(cluster.bootstrap_servers, topic, 5)
    assert errors == [] and len(acked) == 5


def test_pause_freezes_the_container_until_the_controller_fences_it(cluster, env, topic_name):
    topic = make_topic(cluster, topic_name, partitions=1)
    victim = cluster.leader(topic, 0)
    with run_fault(env, {"fault": "pause", "target": victim}):
        assert cluster.node(victim).status == ProcessState.PAUSED
        assert cluster.api.inspect_container(cluster.node(victim).name)["State"]["Paused"]
        eventually(lambda: victim not in registered(cluster, victim), timeout=60)  # fenced: no heartbeats
        eventually(lambda: cluster.leader(topic, 0) not in (None, victim), timeout=60)
    eventually(lambda: victim in registered(cluster, victim) and victim in cluster.isr(topic, 0), timeout=90)


def registered(cluster, paused: int) -> set[int]:
    """The unfenced brokers, as a broker other than `paused` says (the admin client may ask the
    paused one, which takes connections and never answers)."""
    other = next(n for n in cluster.brokers if n.id != paused)
    return set(metadata.fetch(other.layout.broker_address, []).brokers)


def test_latency_on_the_client_path_goes_through_toxiproxy(cluster, env, topic_name):
    topic = make_topic(cluster, topic_name, partitions=1)
    with run_fault(env, {"fault": "latency", "ms": 300}):
        during = latencies_ms(cluster, topic, count=5)
    assert min(during) >= 300, during
    assert max(latencies_ms(cluster, topic, count=5)) < 300


def test_full_disk_fills_the_nodes_tmpfs_until_kafka_fails_with_enospc(cluster, env, topic_name, tmp_path):
    topic = make_topic(cluster, topic_name, partitions=1)
    victim = cluster.leader(topic, 0)
    marks = cluster.log_marks()
    with run_fault(env, {"fault": "full-disk", "target": victim}):
        assert shutil.disk_usage(cluster.node(victim).disk_dir).free < 64 * 1024, "the filler took the disk"
        send(cluster.bootstrap_servers, topic, 50, **{"message.timeout.ms": 10000})  # appends hit the full disk
        eventually(lambda: cluster.node(victim).status == ProcessState.DEAD, timeout=90)
        cluster.copy_logs(marks, lambda node: tmp_path / f"broker-{node}.log")
        assert "No space left on device" in (tmp_path / f"broker-{victim}.log").read_text(errors="replace")
    assert shutil.disk_usage(cluster.node(victim).disk_dir).free > 128 * 1024 * 1024
    eventually(lambda: victim in cluster.isr(topic, 0), timeout=120)


@pytest.mark.slow
def test_read_only_log_dir_takes_the_broker_down_and_heal_brings_it_back(cluster, env, topic_name):
    topic = make_topic(cluster, topic_name, partitions=1)
    victim = cluster.leader(topic, 0)
    with run_fault(env, {"fault": "read-only-log-dir", "target": victim}):
        send(cluster.bootstrap_servers, topic, 50, **{"message.timeout.ms": 10000})
        eventually(lambda: cluster.node(victim).status == ProcessState.DEAD, timeout=120)
    eventually(lambda: victim in cluster.isr(topic, 0), timeout=120)


def test_segment_files_are_read_from_the_containers_data(cluster, topic_name, tmp_path):
    from confluent_kafka import Producer

    from harness.cluster import segments
    from harness.history.values import encode

    topic = make_topic(cluster, topic_name, partitions=1)
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all", "logger": CLIENT_LOG})
    for seq in range(20):
        producer.produce(topic, value=encode(7, seq, 0, 64), partition=0)
    assert producer.flush(60) == 0
    scanned, values = segments.scan(cluster.segment_dirs([(topic, 0)], tmp_path), [(topic, 0)])
    assert {s["node"] for s in scanned if s["replica"]} == set(cluster.partition(topic, 0).replicas)
    assert len(values) == 20 * 3, "every replica holds every value"


def test_a_second_start_of_a_running_cluster_is_refused(docker_cluster, tmp_path):
    from harness.errors import UsageError

    with pytest.raises(UsageError, match="already running"):
        DockerCluster(SPEC, tmp_path).start()
    assert all(n.status == ProcessState.RUNNING for n in docker_cluster.nodes.values())


def test_an_image_that_is_not_here_is_one_line(tmp_path):
    from harness.errors import EnvironmentProblem

    spec = SPEC.model_copy(update={"name": "dkimg", "subnet": 121, "docker": DockerSpec(image="dk-absent/kafka:0.0.1")})
    started = time.monotonic()
    with pytest.raises(EnvironmentProblem, match=r"image dk-absent/kafka:0.0.1 is not here \(not pulled: set "
                                                 r"cluster.docker.pull"):
        DockerCluster(spec, tmp_path).start()
    assert time.monotonic() - started < 60
    assert docker_leftovers("dkimg") == []
