"""Kafka 3.9 from Maven Central, cached beside 4.x, in dedicated-controller mode."""

from __future__ import annotations

import shutil

import pytest
from confluent_kafka import Producer

from harness.clientlog import CLIENT_LOG
from harness.cluster.distribution import DEFAULT_VERSION, cached_libs, obtain
from harness.cluster.layout import Role
from harness.cluster.local import LocalCluster
from harness.cluster.spec import ClusterSpec
from tests.support import read_all

pytestmark = pytest.mark.cluster

OLD_VERSION = "3.9.1"


def test_second_obtain_needs_no_maven(tmp_path):
    obtain(OLD_VERSION)  # resolves with Maven the first time on a fresh machine
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(shutil.which("java"))
    dist = obtain(OLD_VERSION, env={"PATH": str(bin_dir)})  # no mvn on PATH: must come from the cache
    assert dist.libs == cached_libs(OLD_VERSION)
    assert (dist.libs / f"kafka_2.13-{OLD_VERSION}.jar").exists()


def test_kafka_3_9_with_dedicated_controllers_round_trips(tmp_path, session_cluster):
    spec = ClusterSpec(name="old", subnet=48, port_base=24000, nodes=2, controllers=3,
                       kafka_version=OLD_VERSION)
    with LocalCluster(spec, tmp_path) as cluster:
        assert cluster.dist.version == OLD_VERSION
        assert session_cluster.dist.version == DEFAULT_VERSION  # both versions cached and in use
        assert cluster.dist.libs != session_cluster.dist.libs
        assert [n.layout.roles for n in cluster.nodes.values()] == [(Role.CONTROLLER,)] * 3 + [(Role.BROKER,)] * 2
        assert cluster.active_controller() in {1, 2, 3}
        assert cluster.admin().broker_ids() == {4, 5}

        cluster.admin().create_topic("old", 2, 2)
        cluster.wait_in_sync(["old"])
        producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all", "logger": CLIENT_LOG})
        for i in range(100):
            producer.produce("old", value=str(i).encode())
        assert producer.flush(60) == 0
        values = sorted(int(m.value()) for m in read_all(cluster.bootstrap_servers, "old", 2))
        assert values == list(range(100))
        assert "Kafka version: 3.9.1" in (cluster.node(4).log_file.read_text())
