"""Shared fixtures: one real 3-node cluster for the whole session, healed after every test."""

from __future__ import annotations

import uuid

import pytest

from harness.cluster.local import LocalCluster
from harness.cluster.spec import ClusterSpec

# Test clusters live on their own subnet and ports so a user's `cluster up` can run beside them.
SESSION_CLUSTER = ClusterSpec(name="it", subnet=42, port_base=21000)


@pytest.fixture(scope="session")
def session_cluster(tmp_path_factory):
    with LocalCluster(SESSION_CLUSTER, tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


@pytest.fixture
def cluster(session_cluster):
    """The session cluster; whatever a test killed or paused is brought back afterwards."""
    yield session_cluster
    for node in session_cluster.nodes.values():
        if node.status == "paused":
            node.resume()
        elif node.status == "dead":
            node.start()
    session_cluster.wait_ready()


@pytest.fixture
def topic_name():
    return f"t-{uuid.uuid4().hex[:10]}"
