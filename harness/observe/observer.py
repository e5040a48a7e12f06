"""The observer: a background thread that samples the cluster every `interval_s` while a run
goes on, appends each sample to the run directory and records what changed as events
(source `observer`) in the event log, where the checker's evidence and the report find them.

It only reads: Metadata requests to each broker (the freshest leader epoch wins), the
controllers' quorum state, and each consumer group's description, commits and the partitions'
last stable offsets. A question the cluster cannot answer right now (a broker down, a
coordinator moving) leaves that part of the sample empty; it never stops the observer.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from harness.cluster.admin import KafkaAdmin
from harness.cluster.local import LocalCluster
from harness.events import EventLog
from harness.observe.changes import changes
from harness.observe.sample import SAMPLES_FILE, GroupSample, PartitionSample, Sample

log = logging.getLogger(__name__)
QUERY_TIMEOUT_S = 2.0


class Observer:
    def __init__(self, cluster: LocalCluster, run_dir: Path, events: EventLog, topics: list[str],
                 groups: dict[str, list[str]], interval_s: float = 0.5):
        """`groups`: each consumer group to watch, with the topics it consumes."""
        self.cluster, self.events = cluster, events
        self.topics, self.groups, self.interval_s = topics, groups, interval_s
        self.path = Path(run_dir) / SAMPLES_FILE
        self.admin = KafkaAdmin(cluster.bootstrap_servers, timeout=QUERY_TIMEOUT_S)  # not through Toxiproxy
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="observer", daemon=True)
        self.taken = 0

    def __enter__(self) -> "Observer":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        previous = None
        with open(self.path, "a", buffering=1) as out:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    sample = self.sample()
                except Exception as exc:  # noqa: BLE001  (observing must never break the run)
                    log.warning("observer sample failed: %r", exc)
                else:
                    out.write(sample.to_json() + "\n")
                    self.taken += 1
                    if previous is not None:
                        for change in changes(previous, sample):
                            self.events.record("observer", change.kind, change.text, topic=change.topic,
                                               partition=change.partition, group=change.group)
                    previous = sample
                self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def sample(self) -> Sample:
        mono, wall, errors = time.monotonic_ns(), time.time_ns(), []
        partitions = self._partitions(errors)
        quorum = [v for n in self.cluster.controllers if n.status != "dead" and (v := n.quorum_view())]
        groups = self._groups(partitions, errors)
        return Sample(mono=mono, wall=wall, controller=self.cluster.active_controller(),
                      quorum_epoch=max((epoch for epoch, _ in quorum), default=None),
                      partitions=partitions, groups=groups, errors=tuple(errors))

    def _partitions(self, errors: list[str]) -> tuple[PartitionSample, ...] | None:
        try:
            states = self.cluster.partition_states(self.topics)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"partitions: {exc}")
            return None
        return tuple(PartitionSample(s.topic, s.partition, s.leader, s.leader_epoch, s.isr, s.replicas)
                     for s in states)

    def _groups(self, partitions, errors: list[str]) -> tuple[GroupSample, ...]:
        if not self.groups:
            return ()
        try:
            ends = self.admin.end_offsets([p.key for p in partitions or ()])
        except Exception as exc:  # noqa: BLE001
            errors.append(f"end offsets: {exc}")
            ends = {}
        found = []
        for group in self.groups:
            try:
                state = self.admin.group(group)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"group {group}: {exc}")
                continue
            committed = {(t, p): o for t, p, o in state.committed}
            lag = tuple((t, p, max(0, end - committed.get((t, p), 0))) for (t, p), end in sorted(ends.items())
                        if t in self.groups[group])
            found.append(GroupSample(group, state.state, state.members, state.assignment, lag))
        return tuple(found)
