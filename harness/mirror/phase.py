"""A mirrored run's second data centre: the replica cluster and MirrorMaker, started after the
run's topics and stopped on every way out (the run's ExitStack); after the drain, MirrorMaker is
given time to copy everything, a consumer of each group fails over to the replica, and what the
replica holds goes into the run directory (harness.mirror.replica)."""

from __future__ import annotations

import logging
import tempfile
import time
from contextlib import ExitStack

from harness.cluster.local import LocalCluster
from harness.errors import EnvironmentProblem
from harness.events import EventLog
from harness.mirror import replica
from harness.mirror.maker import MirrorMaker, distribution
from harness.mirror.spec import MirrorSpec
from harness.process import ProcessState
from harness.rundir import RunDir

log = logging.getLogger(__name__)
CATCH_UP_EVERY_S = 1.0
READY_TIMEOUT_S = 120.0


class Mirror:
    def __init__(self, spec: MirrorSpec, run: RunDir, events: EventLog):
        self.spec, self.run, self.events = spec, run, events
        self.cluster: LocalCluster | None = None
        self.maker: MirrorMaker | None = None

    def start(self, cleanup: ExitStack, primary: str, version: str, topics: list[str],
              groups: dict[str, list[str]]) -> None:
        """The replica cluster (in a folder of its own, removed with it) and MirrorMaker, copying
        `topics` and the offsets of `groups` (group -> the topics it reads)."""
        work = cleanup.enter_context(tempfile.TemporaryDirectory(prefix=f"kafka-chaos-{self.spec.replica.name}-"))
        self.cluster = cleanup.enter_context(LocalCluster(self.spec.replica, work))
        self.run.mirror.mkdir(exist_ok=True)
        self.maker = MirrorMaker(self.spec, self.run.mirror, primary, self.cluster.bootstrap_servers, topics,
                                 sorted(groups),
                                 distribution(self.spec.kafka_version or version))
        self.maker.start()
        cleanup.callback(self.maker.stop)
        self.topics, self.groups = topics, {g: [t for t in ts if t in topics] for g, ts in groups.items()}
        self._wait_copying()
        self.events.record("mirror", "ready", f"replica {self.cluster.name} and MirrorMaker (pid {self.maker.pid})",
                           pid=self.maker.pid, replica=self.cluster.bootstrap_servers)

    def _wait_copying(self) -> None:
        """Until MirrorMaker made the replica's copy of every topic (it is copying: the workload
        may start), or died, or READY_TIMEOUT_S passed."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        admin, wanted = AdminClient(self.client), {self.spec.replica_topic(t) for t in self.topics}
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline and self.maker.status != ProcessState.DEAD:
            try:
                topics = admin.list_topics(timeout=10).topics
            except KafkaException:
                topics = {}
            if all(t in topics and topics[t].partitions and all(p.leader >= 0 for p in topics[t].partitions.values())
                   for t in wanted):
                return
            time.sleep(CATCH_UP_EVERY_S)
        raise EnvironmentProblem(f"MirrorMaker did not start copying {sorted(wanted)} to the replica within "
                                 f"{READY_TIMEOUT_S:.0f} s (see {self.maker.log})")

    @property
    def client(self) -> dict:
        return {"bootstrap.servers": self.cluster.bootstrap_servers}

    def settle(self, acked: set[tuple[int, int]], timeout: float) -> None:
        """Wait until the replica holds every write in `acked` (or MirrorMaker is down, or time is
        up), then record where each group fails over and what the replica holds."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self._read()
            held = {(p, s) for *_, p, s in rows}
            if acked <= held or self.maker.status == ProcessState.DEAD or time.monotonic() > deadline:
                break
            time.sleep(CATCH_UP_EVERY_S)
        caught_up = acked <= held
        if caught_up and self.maker.status != ProcessState.DEAD:
            time.sleep(3 * self.spec.interval_s)  # a checkpoint and a group sync after the groups' last commits
        self.events.record("mirror", "settled", "the replica holds every acknowledged write" if caught_up else
                           f"{len(acked - held)} acknowledged writes not on the replica "
                           f"({'MirrorMaker down' if self.maker.status == ProcessState.DEAD else 'timed out'})")
        self.maker.stop()  # the group offsets stay as it last synced them while consumers fail over
        replica.write(self.run, rows, self._failover())

    def _read(self) -> list[tuple[str, int, int, int, int]]:
        return [(topic, *r) for topic in self.topics
                for r in replica.retrying(lambda: replica.read_topic(self.client, self.spec.replica_topic(topic)))]

    def _failover(self) -> dict:
        def resume(group: str, topic: str) -> dict[int, int]:
            return replica.retrying(lambda: replica.resume_points(self.client, self.spec.replica_topic(topic), group,
                                                                  self.spec.failover_reset))

        return {group: {topic: resume(group, topic) for topic in topics} for group, topics in self.groups.items()}
