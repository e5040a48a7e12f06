"""Two real clusters in two lab subnets (two "data centres") and a real MirrorMaker 2 between them.

Through a MirrorMaker kill and a partition between the data centres, every write the primary
acknowledged reaches the replica; a consumer failing over resumes at the offsets MirrorMaker
translated and synced into the replica's group, skipping nothing and redoing less than starting
over, while failing over without them (a fresh group, earliest or latest) reprocesses or skips,
and the checker says so; losing the primary during a partition leaves a recovery point (RPO) the
checker measures. Both tests start two clusters and MirrorMaker: slow (the full suite runs them).
"""

from __future__ import annotations

import random
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from harness.clientlog import CLIENT_LOG
from harness.cluster.local import LocalCluster
from harness.cluster.spec import ClusterSpec
from harness.events import EventLog
from harness.faults import Env
from harness.faults.mirror import KillMirror, LosePrimary, PartitionDataCentres
from harness.mirror.check import failover, replication
from harness.mirror.maker import MirrorMaker, distribution
from harness.mirror.replica import resume_points as replica_resume_points
from harness.mirror.spec import MirrorSpec
from tests.support import eventually, settled

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
MIRROR_VERSION = "4.3.0"  # connect-mirror 4.4.0 is not on this machine's Maven mirror; 4.3 clients speak to 4.4 brokers
PARTITIONS = 3
ALLOWED_REPROCESSING = 0  # for the untranslated failovers, which must show every record read again


class Writer:
    """acks=all writes of increasing integers to the primary, each ack's time kept."""

    def __init__(self, bootstrap: str, topic: str):
        self.topic, self.acked, self.next = topic, {}, 0
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                                  "linger.ms": 5, "message.timeout.ms": 10_000, "logger": CLIENT_LOG})

    def _done(self, err, msg) -> None:
        if err is None:
            self.acked[int(msg.value())] = time.monotonic()

    def write(self, count: int, rate: float = 400) -> None:
        for _ in range(count):
            self.producer.produce(self.topic, str(self.next).encode(), key=str(self.next).encode(),
                                  on_delivery=self._done)
            self.next += 1
            self.producer.poll(0)
            time.sleep(1 / rate)

    def flush(self) -> None:
        self.producer.flush(30)


def replica_log(bootstrap: str, topic: str) -> dict[int, list[tuple[int, int]]]:
    """Every record of the replica's topic, per partition in offset order: (offset, value as int)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex[:6]}",
                         "enable.auto.commit": False, "logger": CLIENT_LOG})
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(PARTITIONS)}
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        log = {p: [] for p in range(PARTITIONS)}
        deadline = time.monotonic() + 60
        while any(len(log[p]) < ends[p] for p in log) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                log[msg.partition()].append((msg.offset(), int(msg.value())))
        return log
    finally:
        consumer.close()


def values(log: dict[int, list[tuple[int, int]]]) -> set[int]:
    return {v for entries in log.values() for _, v in entries}


def resume_points(bootstrap: str, topic: str, group: str, reset: str) -> dict[int, int]:
    """Where a consumer of `group` joining the replica starts reading: as the harness probes it."""
    return replica_resume_points({"bootstrap.servers": bootstrap, "logger": CLIENT_LOG}, topic, group, reset)


def consume_and_commit(bootstrap: str, topic: str, group: str, count: int) -> set[int]:
    """A consumer of `group` on the primary processes `count` records, commits them and leaves (an
    inactive group: MirrorMaker syncs only those)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "logger": CLIENT_LOG})
    processed: set[int] = set()
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 60
        while len(processed) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                processed.add(int(msg.value()))
        consumer.commit(asynchronous=False)
        return processed
    finally:
        consumer.close()


@pytest.fixture
def mirrored(tmp_path):
    """A primary (mmp, subnet 150) and a replica (mmr, subnet 151), one node each, and a topic."""
    primary = LocalCluster(ClusterSpec(name="mmp", nodes=1, subnet=150, port_base=46000, heap_mb=256), tmp_path / "p")
    replica_spec = ClusterSpec(name="mmr", nodes=1, subnet=151, port_base=46200, heap_mb=256)
    replica = LocalCluster(replica_spec, tmp_path / "r")
    with primary, replica:
        topic = f"orders-{uuid.uuid4().hex[:6]}"
        primary.admin().create_topic(topic, PARTITIONS, 1)
        primary.wait_in_sync([topic])
        yield primary, replica, MirrorSpec(replica=replica_spec), topic


def mirror_maker(primary, replica, spec, topic, group, folder) -> MirrorMaker:
    """MirrorMaker between the two, started by `with`."""
    return MirrorMaker(spec, folder, primary.bootstrap_servers, replica.bootstrap_servers, [topic], [group],
                       distribution(MIRROR_VERSION))


def test_a_failover_with_translated_offsets_skips_nothing_and_every_acked_write_survives_mirror_faults(mirrored,
                                                                                                      tmp_path):
    primary, replica, spec, topic = mirrored
    group, mirrored_topic = f"g-{uuid.uuid4().hex[:6]}", spec.replica_topic(topic)
    writer = Writer(primary.bootstrap_servers, topic)
    with mirror_maker(primary, replica, spec, topic, group, tmp_path / "mm2") as maker:
        writer.write(10)
        writer.flush()
        eventually(lambda: len(values(replica_log(replica.bootstrap_servers, mirrored_topic))) == 10, 120)
        writer.write(290)  # copied as it is written, offset syncs along
        writer.flush()
        processed = consume_and_commit(primary.bootstrap_servers, topic, group, 150)

        def committed(bootstrap: str, topic: str) -> list[int]:
            consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "logger": CLIENT_LOG})
            try:
                return [tp.offset for tp in consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)],
                                                               10)]
            finally:
                consumer.close()

        on_primary = committed(primary.bootstrap_servers, topic)

        def synced():  # MirrorMaker wrote the translated offsets into the replica's group
            on_replica = committed(replica.bootstrap_servers, mirrored_topic)
            assert [o >= 0 for o in on_replica] == [o >= 0 for o in on_primary], f"not synced yet: {on_replica}"

        eventually(synced, 120)
        log = replica_log(replica.bootstrap_servers, mirrored_topic)
        assert sorted(v for entries in log.values() for _, v in entries) == list(range(300))
        # a partition the group never committed on starts where the group's consumers did: earliest
        translated = failover(log, resume_points(replica.bootstrap_servers, mirrored_topic, group, "earliest"),
                              processed, ALLOWED_REPROCESSING)
        print(f"failover with translated offsets: resumed at {translated.resumed_at}, "
              f"{translated.reprocessed} of {len(processed)} processed records read again, {len(translated.skipped)} skipped")
        # MirrorMaker translates conservatively (to the last offset sync at or before the commit):
        # it may rewind, never skip, and must redo less than starting over would
        assert translated.skipped == [] and translated.reprocessed < len(processed), translated
        unprocessed = set(range(300)) - processed
        from_start = failover(log, resume_points(replica.bootstrap_servers, mirrored_topic, f"{group}-fresh",
                                                 "earliest"), processed, ALLOWED_REPROCESSING)
        assert from_start.anomalies == {"duplicate-processing": len(processed)} and not from_start.skipped
        from_end = failover(log, resume_points(replica.bootstrap_servers, mirrored_topic, f"{group}-late", "latest"),
                            processed, ALLOWED_REPROCESSING)
        assert from_end.anomalies == {"lost-processing": len(unprocessed)} and set(from_end.skipped) == unprocessed

        env = Env(cluster=primary, events=EventLog(tmp_path / "events.jsonl"), rng=random.Random(1), mirror=maker)
        killed = KillMirror().inject(env)
        writer.write(400)  # the primary's clients go on
        killed.heal()
        writer.flush()
        on_replica = lambda: values(replica_log(replica.bootstrap_servers, mirrored_topic))  # noqa: E731
        eventually(lambda: replication(writer.acked, on_replica()).passed, 120)  # the restarted one caught up
        cut = PartitionDataCentres().inject(env)
        try:
            writer.write(400)
            writer.flush()
            cut_off = replication(writer.acked, on_replica())  # judged now, the replica lacks what the cut kept back
            assert cut_off.anomalies == {"lost-write": 400} and set(cut_off.missing) == set(range(700, 1100))
        finally:
            cut.heal()  # a failed assertion must not leave the rules and the cgroup behind
        writer.flush()
        assert len(writer.acked) == writer.next == 1100, "the primary acknowledged every write"

        def complete():
            found = replication(writer.acked, values(replica_log(replica.bootstrap_servers, mirrored_topic)))
            assert found.passed, f"{len(found.missing)} acked writes not on the replica yet: {found.missing[:5]}"
            return found

        found = eventually(complete, 120)
        assert found.replicated == found.acknowledged == 1100 and maker.starts == 2


def test_losing_the_primary_during_a_partition_leaves_a_measured_recovery_point(mirrored, tmp_path):
    primary, replica, spec, topic = mirrored
    writer = Writer(primary.bootstrap_servers, topic)
    mirrored_topic = spec.replica_topic(topic)
    with mirror_maker(primary, replica, spec, topic, "none", tmp_path / "mm2") as maker:
        env = Env(cluster=primary, events=EventLog(tmp_path / "events.jsonl"), rng=random.Random(1), mirror=maker)
        writer.write(200)
        writer.flush()
        eventually(lambda: sum(map(len, replica_log(replica.bootstrap_servers, mirrored_topic).values())) == 200, 120)
        cut = PartitionDataCentres().inject(env)
        cut_at = time.monotonic()
        try:
            writer.write(600)  # 1.5 s at 400/s that MirrorMaker cannot copy
            writer.flush()
            lost = LosePrimary().inject(env)
            lost_at = time.monotonic()
        finally:
            cut.heal()  # the link is back, but the primary is gone
        # Nothing more can arrive: the replica's log is read once it has stayed the same for 3 s.
        on_replica = eventually(settled(lambda: values(replica_log(replica.bootstrap_servers, mirrored_topic)), 3), 60)
        found = replication(writer.acked, on_replica, lost_at=lost_at)
        lost.heal()
    print(f"RPO: {found.rpo_records} acknowledged writes, oldest {found.rpo_age} s before the loss "
          f"(partition began {lost_at - cut_at:.2f} s before it)")
    assert found.passed and found.primary_lost
    assert found.rpo_records == 600 and found.rpo_age >= lost_at - cut_at - 0.5
    assert found.replicated == 200


# ---- the catalogue's mirror experiments, run by the harness end to end --------------------------

REPLICA = {"name": "mmr2", "nodes": 1, "subnet": 153, "port_base": 46600, "heap_mb": 256}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    from harness import api

    with api.Session(out=tmp_path_factory.mktemp("mirror"), home=dict(name="mmp2", subnet=152, port_base=46400)) as s:
        yield s


def catalogue(name: str) -> dict:
    """A catalogue experiment as it is, its replica moved into this module's subnet and ports."""
    import yaml
    from pathlib import Path

    data = yaml.safe_load((Path(__file__).parents[2] / "harness" / "catalogue" / f"{name}.yaml").read_text())
    return {**data, "mirror": {**data["mirror"], "replica": REPLICA}}


def invariant(result, kind: str):
    return next(i for i in result.check.invariants if i.kind.value == kind)


def test_the_known_good_mirror_copies_every_acked_write_and_fails_over_exactly(session):
    result = session.run(catalogue("mirror-kill-and-partition"), seed=5)
    assert result.outcome.value == "pass", result.record.message
    for kind in ("replica-lost-write", "failover-reprocessing", "failover-skip"):
        assert invariant(result, kind).status.value == "pass", invariant(result, kind)


def test_a_failover_without_translated_offsets_reprocesses_and_is_caught(session):
    result = session.run(catalogue("mirror-failover-without-translation"), seed=5)
    assert result.outcome.value == "caught-as-expected", result.record.message
    reprocessing = invariant(result, "failover-reprocessing")
    assert reprocessing.status.value == "fail" and reprocessing.count > 20
    assert invariant(result, "replica-lost-write").status.value == "pass"


def test_losing_the_primary_reports_the_recovery_point(session):
    result = session.run(catalogue("mirror-lose-primary"), seed=5)
    assert result.outcome.value == "pass", result.record.message
    lost = invariant(result, "replica-lost-write")
    assert lost.status.value == "pass" and "RPO" in lost.note, lost
    print(lost.note)
