"""The observer: samples the cluster every `interval_s` while a run goes on, appends each sample
to the run directory's samples and records what changed as events in the observer's event log
(which `read_events` merges into the run's, where the checker's evidence and the report find
them).

It runs as its own process (`ObserverProcess`): the admin client it needs has crashed the
process it ran in (a librdkafka assertion), and a crashed observer must cost a run its
samples, never its cleanup. It only reads: Metadata requests to each broker (the freshest
leader epoch wins), the controllers' quorum state, and each consumer group's description,
commits and the partitions' last stable offsets. A question the cluster cannot answer right now
leaves that part of the sample empty.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pydantic import BaseModel

from harness.cluster import backends
from harness.cluster.admin import KafkaAdmin
from harness.cluster.backend import Backend, Capability
from harness.cluster.backends import BackendName
from harness.events import EventLog
from harness.observe.changes import changes
from harness.observe.sample import GroupSample, PartitionSample, Sample
from harness.process import ProcessRef
from harness.rundir import RunDir

log = logging.getLogger(__name__)
QUERY_TIMEOUT_S = 2.0
STOP_TIMEOUT_S = 15.0


class ObserverConfig(BaseModel):
    backend: BackendName = BackendName.LOCAL
    cluster: str  # a running cluster's name (its state file tells the observer where the nodes are)
    run_dir: Path
    topics: list[str]
    groups: dict[str, list[str]] = {}  # consumer group -> the topics it consumes
    interval_s: float = 0.5
    # The harness's pid, not the observer's first getppid(): a harness killed while the observer
    # was still importing would otherwise leave it an orphan that samples for ever.
    harness_pid: int


class Observer:
    def __init__(self, config: ObserverConfig):
        self.config = config
        run = RunDir(config.run_dir)
        self.path = run.samples
        self.events = EventLog(run.observer_events)
        self.admin: KafkaAdmin | None = None

    def run(self, stopping) -> None:
        """Sample until `stopping()`; what changed between samples becomes events."""
        previous = None
        with open(self.path, "a", buffering=1) as out:
            while not stopping():
                started = time.monotonic()
                try:
                    sample = self.sample(backends.attach(self.config.backend, self.config.cluster))  # fresh pids
                except Exception as exc:  # noqa: BLE001  (one failed look is not the end of observing)
                    log.warning("sample failed: %r", exc)
                else:
                    out.write(sample.to_json() + "\n")
                    if previous is not None:
                        for change in changes(previous, sample):
                            self.events.record("observer", change.kind, change.text, topic=change.topic,
                                               partition=change.partition, group=change.group)
                    previous = sample
                time.sleep(max(0.0, self.config.interval_s - (time.monotonic() - started)))
        self.events.close()

    def sample(self, cluster: Backend) -> Sample:
        mono, wall, errors = time.monotonic_ns(), time.time_ns(), []
        topology = Capability.TOPOLOGY in cluster.capabilities
        quorum = Capability.QUORUM in cluster.capabilities
        partitions = self._partitions(cluster, errors) if topology else None
        groups = self._groups(cluster, partitions, errors)
        return Sample(mono=mono, wall=wall, controller=cluster.active_controller() if quorum else None,
                      quorum_epoch=cluster.quorum_epoch() if quorum else None,
                      partitions=partitions, groups=groups, errors=tuple(errors))

    def _partitions(self, cluster, errors: list[str]) -> tuple[PartitionSample, ...] | None:
        try:
            states = cluster.partition_states(self.config.topics)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"partitions: {exc}")
            return None
        return tuple(PartitionSample(s.topic, s.partition, s.leader, s.leader_epoch, s.isr, s.replicas)
                     for s in states)

    def _groups(self, cluster: Backend, partitions, errors: list[str]) -> tuple[GroupSample, ...]:
        if not self.config.groups:
            return ()
        if self.admin is None:  # direct to the brokers, not through Toxiproxy
            self.admin = KafkaAdmin(cluster.bootstrap_servers, timeout=QUERY_TIMEOUT_S, client=cluster.harness_client)
        try:
            ends = self.admin.end_offsets([p.key for p in partitions or ()])
        except Exception as exc:  # noqa: BLE001
            errors.append(f"end offsets: {exc}")
            ends = {}
        found = []
        for group, topics in self.config.groups.items():
            try:
                state = self.admin.group(group, topics)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"group {group}: {exc}")
                continue
            committed = {(t, p): o for t, p, o in state.committed}
            lag = tuple((t, p, max(0, end - committed.get((t, p), 0))) for (t, p), end in sorted(ends.items())
                        if t in topics)
            found.append(GroupSample(group, state.state, state.members, state.assignment, lag))
        return tuple(found)


class ObserverProcess:
    """`python -m harness.observe CONFIG` for the length of a `with` block."""

    def __init__(self, backend: BackendName, cluster: str, run_dir: Path, topics: list[str],
                 groups: dict[str, list[str]], interval_s: float = 0.5):
        self.config = ObserverConfig(backend=backend, cluster=cluster, run_dir=Path(run_dir).resolve(),
                                     topics=topics, groups=groups, interval_s=interval_s, harness_pid=os.getpid())
        self.process: ProcessRef | None = None
        self.popen: subprocess.Popen | None = None

    def __enter__(self) -> "ObserverProcess":
        run = RunDir(self.config.run_dir)
        config = run.observer_config
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(self.config.model_dump_json(indent=2))
        with open(run.observer_log, "ab") as out:
            self.popen = subprocess.Popen([sys.executable, "-m", "harness.observe", str(config)], stdout=out,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.process = ProcessRef.of(self.popen)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> int | None:
        """SIGTERM (it finishes the sample in hand), SIGKILL after a while; its exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.process.terminate(STOP_TIMEOUT_S)
        return self.popen.wait()


def main(config_path: str) -> None:
    """The observer process: samples until SIGTERM, or until the harness that started it dies."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = ObserverConfig.model_validate_json(Path(config_path).read_text())
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    Observer(config).run(lambda: bool(stop) or os.getppid() != config.harness_pid)
