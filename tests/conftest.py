"""Shared fixtures: one real 3-node cluster for the whole session, healed after every test."""

from __future__ import annotations

import uuid

import pytest

from harness.cluster.local import LocalCluster
from harness.cluster.spec import ClusterSpec, ProxySpec
from harness.faults import heal_leftovers

pytest_plugins = ["pytester"]  # tests of the kafka-chaos pytest plugin run pytest on files of their own

# Test clusters live on their own subnet and ports so a user's `cluster up` can run beside them.
# Clients may go through Toxiproxy (client_bootstrap_servers); replication goes direct, so that
# network partitions between nodes cut it. Each node has a disk of its own, for the full-disk fault.
SESSION_CLUSTER = ClusterSpec(name="it", subnet=42, port_base=21000, proxy=ProxySpec(clients=True), disk_mb=1024)


@pytest.fixture(scope="session")
def session_cluster(tmp_path_factory):
    with LocalCluster(SESSION_CLUSTER, tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


@pytest.fixture
def cluster(session_cluster):
    """The session cluster; whatever a test broke (nodes, rules, toxics) is healed afterwards."""
    yield session_cluster
    heal_leftovers(session_cluster)
    session_cluster.wait_ready()


@pytest.fixture
def topic_name():
    return f"t-{uuid.uuid4().hex[:10]}"
