"""The experiment file format: one YAML document per experiment, validated strictly.

    name: leader-kill-acks-all
    description: RF 3, min ISR 2, acks=all, idempotence: a leader kill loses nothing.
    scenarios: [3, 21]
    semantics: at-least-once
    expect: pass
    topics: [{name: orders, partitions: 6}]
    workload:
      producers: [{name: p1, topics: [orders], rate: 500}]
      consumers: [{name: c1, topics: [orders], group: g1}]
    faults:
      kind: timeline
      steps: [{at: 5, duration: 10, fault: {fault: kill, target: {leader: {topic: orders}}}}]

`kafka-chaos schema` prints the JSON Schema of this model.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from harness.checker.model import AnomalyKind, PolicySetting
from harness.cluster.backends import BackendName
from harness.cluster.containers.spec import DockerSpec
from harness.cluster.security import SecuritySpec
from harness.cluster.ssh_config import SshClusterConfig
from harness.cluster.external_config import ExternalClusterConfig
from harness.cluster.spec import DEFAULT_DISK_MB, ConfigValue, NetworkMode, NodeHooks, ProxySpec
from harness.experiment import consistency
from harness.faults.base import FaultSpec
from harness.faults.schedule import Nemesis, Schedule, Timeline
from harness.limits import PositiveSeconds, Seconds
from harness.mirror.spec import MirrorSpec
from harness.names import TopicName
from harness.semantics import Semantics
from harness.workload.config import ConsumerConfig, ProducerConfig, SinkConfig, StreamsConfig, TransformerConfig

NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Expect(StrEnum):
    PASS = "pass"
    VIOLATION = "violation"  # a known-bad configuration: the harness must catch it


class ClusterConfig(_Strict):
    backend: Literal[BackendName.LOCAL] = Field(BackendName.LOCAL, description="where the cluster runs")
    network: NetworkMode = Field(NetworkMode.AUTO, description="local backend: namespaces (needed by network "
                                                               "faults) or loopback")
    nodes: int = Field(3, ge=1, le=9)
    controllers: int = Field(0, ge=0, le=5)
    kafka_version: str | None = None
    broker_config: dict[str, ConfigValue] = Field(default_factory=dict)
    proxy: ProxySpec = Field(default_factory=ProxySpec, description="set on its own when a fault needs it")
    disk_mb: int | None = Field(None, ge=64, le=65536,
                                description="each node's own disk of this size (a tmpfs); a full-disk fault "
                                            f"gets {DEFAULT_DISK_MB} MB when this is not set")
    security: SecuritySpec = Field(default_factory=SecuritySpec,
                                   description="listeners and authorization: plaintext, sasl_ssl (SCRAM) or ssl "
                                               "(mutual TLS); each worker then logs in as its own principal")

    @property
    def node_ids(self) -> list[int]:
        return list(range(1, self.nodes + self.controllers + 1))


class DockerClusterConfig(ClusterConfig):
    """The local backend's cluster, each node a container on a Docker engine instead of a JVM here."""

    backend: Literal[BackendName.DOCKER] = Field(description="where the cluster runs")
    docker: DockerSpec = Field(default_factory=DockerSpec, description="the image, or a running cluster "
                                                                        "(compose project) to take over")

    @model_validator(mode="after")
    def _plaintext(self) -> "DockerClusterConfig":
        if self.security.secured:
            raise _at(("cluster", "security", "protocol"), f"backend docker runs plaintext clusters only, "
                      f"not {self.security.protocol.value}")
        return self


def _backend_of(value) -> str:
    backend = value.get("backend", "local") if isinstance(value, dict) else getattr(value, "backend", "local")
    return str(backend)


# The backend's own settings: each backend's config model lives in its own module.
AnyCluster = Annotated[Annotated[ClusterConfig, Tag("local")] | Annotated[DockerClusterConfig, Tag("docker")]
                       | Annotated[SshClusterConfig, Tag("ssh")] | Annotated[ExternalClusterConfig, Tag("external")],
                       Discriminator(_backend_of)]


class TopicConfig(_Strict):
    name: TopicName = Field(pattern=r"^[a-zA-Z0-9._-]{1,200}$")
    partitions: int = Field(3, ge=1, le=1000)
    replication_factor: int = Field(3, ge=1, le=9)
    config: dict[str, ConfigValue] = Field(default_factory=dict)


class WorkloadSpec(_Strict):
    producers: list[ProducerConfig] = Field(default_factory=list)
    consumers: list[ConsumerConfig] = Field(default_factory=list)
    transformers: list[TransformerConfig] = Field(default_factory=list)
    sinks: list[SinkConfig] = Field(default_factory=list, description="consumers writing into the run's "
                                                                      "PostgreSQL database")
    streams: list[StreamsConfig] = Field(default_factory=list, description="instances of the Kafka Streams "
                                                                          "application (a count per key)")

    def workers(self) -> list:
        return [*self.producers, *self.consumers, *self.transformers, *self.sinks, *self.streams]


class Phases(_Strict):
    steady_s: Seconds = Field(5, description="load before the first fault (the baseline)")
    faults_s: Seconds = Field(30, description="length of the fault phase")
    recovery_s: Seconds = Field(10, description="load after every fault is healed")
    drain_timeout_s: PositiveSeconds = Field(120, description="how long consumers get to catch up")
    final_read_timeout_s: PositiveSeconds = 120


class ThroughputRecovery(_Strict):
    percent: float = Field(50, gt=0, le=200, description="of the steady phase's acknowledged sends per second")
    within_s: PositiveSeconds = Field(30, description="after the last heal")


class ObserverSpec(_Strict):
    interval_s: float = Field(0.5, ge=0.1, le=60, description="how often the observer samples the cluster")


class SteadyState(_Strict):
    caught_up: bool = Field(True, description="consumer groups process everything within drain_timeout_s")
    throughput_recovers: ThroughputRecovery | None = None
    no_under_replicated_at_end: bool = True
    idle_consumers: int | None = Field(None, ge=0, description="consumers left without partitions at the end")
    hot_partition_share_at_least: float | None = Field(None, gt=0, le=1)
    dead_letters: bool = Field(False, description="every poison record reached its dead letter topic, with headers")
    backpressure_engaged: bool = Field(False, description="consumers paused and resumed fetching")


class Experiment(_Strict):
    name: str = Field(pattern=NAME)
    description: str = ""
    scenarios: list[Annotated[int, Field(ge=1, le=10_000)]] = Field(default_factory=list,
                                                                     description="seed scenarios it covers")
    semantics: Semantics = Semantics.AT_LEAST_ONCE
    expect: Expect = Expect.PASS
    seed: int | None = Field(None, ge=0, lt=2**63, description="fixes the run's seed; unset: each run draws its own")
    cluster: AnyCluster = Field(default_factory=ClusterConfig)
    topics: list[TopicConfig] = Field(min_length=1)
    workload: WorkloadSpec
    phases: Phases = Field(default_factory=Phases)
    faults: Schedule | None = None
    anomalies: dict[AnomalyKind, PolicySetting] = Field(
        default_factory=dict, description="per anomaly: fail, allowed, or how many are allowed")
    steady_state: SteadyState = Field(default_factory=SteadyState)
    observer: ObserverSpec = Field(default_factory=ObserverSpec)
    mirror: MirrorSpec | None = Field(None, description="a replica cluster and MirrorMaker 2 copying this one to it "
                                                        "(two data centres)")

    @model_validator(mode="after")
    def _consistent(self) -> "Experiment":
        brokers = self.cluster.nodes
        topics = {t.name for t in self.topics}
        for i, topic in enumerate(self.topics):
            if topic.replication_factor > brokers:
                raise _at(("topics", i, "replication_factor"),
                          f"replication factor {topic.replication_factor} > {brokers} brokers")
        names = [w.name for w in self.workload.workers()]
        if len(set(names)) != len(names):
            raise _at(("workload",), f"worker names repeat: {sorted(n for n in set(names) if names.count(n) > 1)}")
        if not names:
            raise _at(("workload",), "no producers, consumers, transformers, sinks or streams")
        for section in ("producers", "consumers", "transformers", "sinks", "streams"):
            for i, worker in enumerate(getattr(self.workload, section)):
                used = worker.topics if hasattr(worker, "topics") else [worker.input, worker.output]
                used = [*used, *([worker.dead_letter_topic] if getattr(worker, "dead_letter_topic", None) else [])]
                unknown = sorted(set(used) - topics)
                if unknown:
                    raise _at(("workload", section, i), f"topics {unknown} are not declared under topics")
        for i, producer in enumerate(self.workload.producers):
            if self.semantics == Semantics.EXACTLY_ONCE and str(producer.client.get("acks", "all")) in ("0", "1"):
                raise _at(("workload", "producers", i, "client", "acks"),
                          f"exactly-once needs acks=all, not acks={producer.client['acks']}")
        for path, worker in self._fault_workers():
            if worker not in names:
                raise _at(path, f"no worker named {worker!r} in the workload")
        for loc, message in consistency.problems(self):
            raise _at(loc, message)
        return self

    def _fault_workers(self):
        for path, spec in self.fault_paths():
            if hasattr(spec, "worker"):
                yield (*path, "worker"), spec.worker

    def fault_paths(self) -> list[tuple[tuple, FaultSpec]]:
        """Each fault of the schedule with its place in the file."""
        if isinstance(self.faults, Timeline):
            return [(("faults", "steps", i, "fault"), s.fault) for i, s in enumerate(self.faults.steps)]
        if isinstance(self.faults, Nemesis):
            return [(("faults", "faults", i), f) for i, f in enumerate(self.faults.faults)]
        return []

    def needed_disk_mb(self) -> int | None:
        """Each node's disk size: asked for, or the default a fault that fills disks needs."""
        own_disks = any(spec.provisions().own_disks for _, spec in self.fault_paths())
        return self.cluster.disk_mb or (DEFAULT_DISK_MB if own_disks else None)

    def needed_proxies(self) -> ProxySpec:
        """The proxies the cluster must have: asked for, or needed by a degraded-network fault."""
        provisions = [spec.provisions() for _, spec in self.fault_paths()]
        paths = set().union(*(p.proxies for p in provisions))
        proxy = self.cluster.proxy
        return ProxySpec(clients=proxy.clients or "clients" in paths,
                         replication=proxy.replication or "replication" in paths,
                         kafka=proxy.kafka or any(p.protocol_proxy for p in provisions))

    def needed_hooks(self) -> NodeHooks:
        """lazyfs and libfaketime, only for experiments whose faults use them."""
        provisions = [spec.provisions() for _, spec in self.fault_paths()]
        return NodeHooks(lazyfs=any(p.lazyfs for p in provisions), faketime=any(p.faketime for p in provisions))


class ExperimentError(ValueError):
    """A consistency error that knows which field it is about."""

    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc = loc


def _at(loc: tuple, message: str) -> ExperimentError:
    return ExperimentError(loc, message)
