"""MirrorMaker 2's generated properties, and the mirror's judgement (pure: no cluster)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from harness.mirror.check import failover, replication
from harness.mirror.spec import MirrorSpec, properties, render


def test_properties_replicate_only_the_runs_topics_and_groups_one_way_with_checkpoints():
    props = properties(MirrorSpec(), "198.18.150.11:9092", "198.18.151.11:9092", ["orders-ab12"], ["g-ab12"])
    assert props["primary.bootstrap.servers"] == "198.18.150.11:9092"
    assert props["replica.bootstrap.servers"] == "198.18.151.11:9092"
    assert (props["primary->replica.enabled"], props["replica->primary.enabled"]) == ("true", "false")
    assert props["primary->replica.topics"] == r"orders\-ab12"
    assert props["primary->replica.groups"] == r"g\-ab12"
    assert props["emit.checkpoints.enabled"] == props["sync.group.offsets.enabled"] == "true"
    assert props["offset.lag.max"] == "0" and props["offset-syncs.topic.location"] == "target"
    # every internal topic on the replica, sized for its single node
    assert {v for k, v in props.items() if "replication.factor" in k} == {"1"}


def test_offset_translation_can_be_switched_off():
    props = properties(MirrorSpec(emit_checkpoints=False, sync_group_offsets=False), "a:1", "b:2", ["t"], ["g"])
    assert props["emit.checkpoints.enabled"] == props["sync.group.offsets.enabled"] == "false"


def test_the_properties_file_keeps_the_regular_expressions_backslashes():
    """Java's Properties loader reads `\\.` as `.`: each backslash must be doubled in the file."""
    text = render(properties(MirrorSpec(), "a:1", "b:2", ["a.b", "c"], []))
    assert "primary->replica.topics=a\\\\.b|c\n" in text
    assert "primary->replica.groups=^$\n" in text  # no groups: a pattern matching none


def test_a_replica_needs_a_valid_cluster_spec():
    with pytest.raises(ValidationError):
        MirrorSpec.model_validate({"replica": {"name": "Bad Name"}})
    assert MirrorSpec().replica_topic("orders") == "primary.orders"


def test_every_acknowledged_write_on_the_replica_passes_and_a_missing_one_is_a_lost_write():
    acked = {1: 10.0, 2: 11.0, 3: 12.0}
    assert replication(acked, {1, 2, 3, 99}).passed
    found = replication(acked, {1, 3})
    assert found.missing == [2] and found.anomalies == {"lost-write": 1} and found.rpo_age is None


def test_losing_the_primary_turns_the_unreplicated_tail_into_an_rpo_not_a_lost_write():
    acked = {1: 10.0, 2: 11.0, 3: 12.5, 4: 13.0}
    found = replication(acked, {1, 2}, lost_at=14.0)
    assert found.passed and found.rpo_records == 2 and found.rpo_age == 1.5
    assert replication(acked, {1, 2, 3, 4}, lost_at=14.0).rpo_age == 0.0


def test_a_failover_resuming_at_the_translated_offset_reprocesses_nothing_and_skips_nothing():
    log = {0: list(enumerate(["a", "b", "c", "d"])), 1: [(5, "x"), (7, "y")]}  # offsets need not be dense
    found = failover(log, {0: 2, 1: 6}, processed={"a", "b", "x"})
    assert found.passed and found.reprocessed == 0 and found.skipped == []


def test_a_failover_from_the_start_reprocesses_and_one_from_the_end_skips():
    log = {0: list(enumerate(["a", "b", "c", "d"]))}
    early = failover(log, {0: 0}, processed={"a", "b"}, max_reprocessed=1)
    assert early.reprocessed == 2 and early.anomalies == {"duplicate-processing": 2}
    late = failover(log, {0: 4}, processed={"a", "b"})
    assert late.skipped == ["c", "d"] and late.anomalies == {"lost-processing": 2}
    assert failover(log, {0: 0}, processed={"a", "b"}, max_reprocessed=2).passed


def test_the_replicas_dump_reads_back_and_a_damaged_one_is_refused_naming_the_file(tmp_path):
    from harness.mirror import replica
    from harness.rundir import RunDir

    run = RunDir(tmp_path)
    replica.write(run, [("orders", 0, 0, 1, 0), ("orders", 0, 1, 1, 1)], {"g": {"orders": {0: 1}}})
    records, failover_at = replica.read(run)
    assert records["seq"].tolist() == [0, 1] and failover_at == {"g": {"orders": {0: 1}}}
    run.mirror_replica.write_bytes(b"not arrow")
    with pytest.raises(replica.ReplicaError, match="mirror/replica.arrow: unreadable"):
        replica.read(run)
    run.mirror_replica.unlink()
    with pytest.raises(replica.ReplicaError, match="missing"):
        replica.read(run)


def test_a_mirror_needs_the_primary_on_the_local_backend():
    from harness.errors import UsageError
    from harness.experiment.loader import parse

    text = """
name: m
topics: [{name: t, partitions: 1, replication_factor: 1, config: {min.insync.replicas: 1}}]
workload: {producers: [{name: p1, topics: [t], rate: 10}]}
cluster: {backend: external, bootstrap: "198.18.150.11:9092"}
mirror: {}
"""
    with pytest.raises(UsageError, match="m.yaml:6: mirror: a mirror needs the local backend"):
        parse(text, "m.yaml")
