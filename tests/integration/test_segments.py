"""The segment-file reader on a real cluster's logs: every acknowledged value is found in every
replica at its acknowledged offset; transaction markers are skipped; compressed batches are
counted, not misread."""

from __future__ import annotations

import pytest

from harness.cluster import segments
from harness.history.load import load_history
from harness.workload.config import ProducerConfig, Semantics, TransactionSpec
from harness.workload.launcher import Workload

pytestmark = pytest.mark.cluster


def make_topic(cluster, name: str) -> str:
    cluster.admin().create_topic(name, 3, 3, {"min.insync.replicas": "2"})
    cluster.wait_in_sync([name])
    return name


def scan(cluster, topic: str):
    return segments.scan({n.id: n.data_dir for n in cluster.brokers}, [(topic, p) for p in range(3)])


def test_every_acknowledged_value_is_in_every_replica_at_its_offset(cluster, topic_name, tmp_path):
    topic = make_topic(cluster, topic_name)
    with Workload(tmp_path, cluster.bootstrap_servers, Semantics.EXACTLY_ONCE) as workload:
        producer = workload.start(ProducerConfig(name="p1", topics=[topic], messages=600,
                                                 transactions=TransactionSpec(size=10, abort_ratio=0.2)))
        assert producer.wait(120) == 0
    sends = load_history(tmp_path).sends
    acked = {(int(s.partition), int(s.offset), int(s.vid)) for s in sends[sends["outcome"] == "ok"].itertuples()}
    assert len(acked) == 600

    scanned, values = scan(cluster, topic)
    assert len(scanned) == 9 and all(s["replica"] and s["compressed_batches"] == 0 for s in scanned)
    for node in (1, 2, 3):
        mine = values[values["node"] == node]
        assert set(zip(mine["partition"], mine["offset"], mine["vid"])) == acked, f"node {node}"
    # aborted transactions stay in the log (read_uncommitted sees them); their markers are no records
    assert sum(s["records"] for s in scanned) == 3 * 600


def test_compressed_batches_are_counted_not_read(cluster, topic_name, tmp_path):
    topic = make_topic(cluster, topic_name)
    with Workload(tmp_path, cluster.bootstrap_servers, Semantics.AT_LEAST_ONCE) as workload:
        producer = workload.start(ProducerConfig(name="p1", topics=[topic], messages=300,
                                                 client={"compression.type": "lz4", "linger.ms": 50}))
        assert producer.wait(60) == 0
    scanned, values = scan(cluster, topic)
    assert values.empty and sum(s["compressed_batches"] for s in scanned) > 0
