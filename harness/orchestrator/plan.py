"""A run plan: one experiment bound to one run. Every topic, group and worker name resolved from
logical to physical once (the run's tag keeps runs on a shared cluster apart), the cluster it
needs, and the faults planned from its seed."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from functools import cached_property

from harness.cluster.spec import ClusterSpec
from harness.experiment.model import Experiment, TopicConfig
from harness.faults.schedule import Nemesis, Planned, Timeline, plan
from harness.names import Kind, bind
from harness.rundir import RunDir
from harness.workload.config import ConsumerConfig, SinkConfig, StreamsConfig, TransformerConfig, WorkerConfig

RUN_CLUSTER = dict(name="run", subnet=10, port_base=22000)  # the harness's own cluster: name, network, ports


def run_tag(run_dir_name: str) -> str:
    return hashlib.sha1(run_dir_name.encode()).hexdigest()[:6]


@dataclass(frozen=True)
class RunPlan:
    experiment: Experiment
    source: str  # the experiment file
    run: RunDir
    seed: int
    kafka_version: str | None = None  # overrides the experiment's
    home: dict = field(default_factory=lambda: dict(RUN_CLUSTER))  # the cluster's name, subnet and ports
    tag: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tag", run_tag(self.run.name))

    @classmethod
    def of(cls, experiment: Experiment, source: str, run: RunDir, seed: int | None = None,
           kafka_version: str | None = None, home: dict | None = None) -> "RunPlan":
        """The seed: given, else the experiment's own, else a fresh one (printed, so it replays)."""
        if seed is None:
            seed = experiment.seed if experiment.seed is not None else secrets.randbelow(10**9)
        return cls(experiment, source, run, seed, kafka_version, dict(home or RUN_CLUSTER))

    def physical(self, kind: Kind, name: str) -> str:
        """The name this run uses on the cluster for a logical topic or group."""
        return f"{name}-{self.tag}"

    @cached_property
    def cluster(self) -> ClusterSpec:
        """The local (and docker) backend's ClusterSpec; for a cluster the harness did not start, the
        experiment's own cluster config, with the client proxies its faults need."""
        c, exp = self.experiment.cluster, self.experiment
        if c.backend not in ("local", "docker"):  # docker: the local backend's cluster, in containers
            return c.model_copy(update={"proxy": exp.needed_proxies()})
        return ClusterSpec(**self.home, nodes=c.nodes, controllers=c.controllers, network=c.network,
                           kafka_version=self.kafka_version or c.kafka_version, broker_config=c.broker_config,
                           proxy=exp.needed_proxies(), disk_mb=exp.needed_disk_mb(), hooks=exp.needed_hooks(),
                           security=c.security, docker=getattr(c, "docker", None))

    @cached_property
    def topics(self) -> list[TopicConfig]:
        return [bind(t, self.physical) for t in self.experiment.topics]

    @cached_property
    def topic_names(self) -> dict[str, str]:
        """Logical topic name -> physical."""
        return {t.name: self.physical("topic", t.name) for t in self.experiment.topics}

    @cached_property
    def workers(self) -> list[WorkerConfig]:
        """In start order: readers before producers, so nothing is produced before they listen."""
        w = self.experiment.workload
        return [bind(worker, self.physical) for worker in [*w.consumers, *w.transformers, *w.sinks, *w.streams, *w.producers]]

    @cached_property
    def groups(self) -> dict[str, list[str]]:
        """Each consumer group of the run and the topics it consumes (physical names)."""
        found: dict[str, set[str]] = {}
        for worker in self.workers:
            if isinstance(worker, ConsumerConfig) and worker.group:
                found.setdefault(worker.group, set()).update(worker.topics)
            elif isinstance(worker, (TransformerConfig, SinkConfig, StreamsConfig)):
                found.setdefault(worker.group, set()).add(worker.input)
        return {group: sorted(topics) for group, topics in found.items()}

    @property
    def sinks(self) -> bool:
        """Whether the run needs a database."""
        return bool(self.experiment.workload.sinks)

    @property
    def streams(self) -> bool:
        """Whether the run needs the Kafka Streams application built."""
        return bool(self.experiment.workload.streams)

    @cached_property
    def dead_letter_topics(self) -> dict[str, str]:
        return {w.name: w.dead_letter_topic for w in self.workers
                if isinstance(w, ConsumerConfig) and w.dead_letter_topic}

    @cached_property
    def schedule(self) -> Timeline | Nemesis | None:
        return bind(self.experiment.faults, self.physical) if self.experiment.faults else None

    @cached_property
    def faults(self) -> list[Planned]:
        return plan(self.schedule, self.seed, self.experiment.phases.faults_s) if self.schedule else []

    def resolved(self) -> dict:
        """What the run made of the experiment, saved beside it: enough to replay it."""
        logical = plan(self.experiment.faults, self.seed, self.experiment.phases.faults_s) \
            if self.experiment.faults else []
        return {"seed": self.seed, "tag": self.tag, "topics": self.topic_names,
                "groups": {g: self.physical("group", g) for g in self.experiment_groups()},
                "plan": [{"index": p.index, "start": p.start, "end": p.end,
                          "fault": p.fault.model_dump(mode="json", exclude_unset=True)} for p in logical]}

    def experiment_groups(self) -> list[str]:
        w = self.experiment.workload
        return sorted({c.group for c in w.consumers if c.group} | {t.group for t in [*w.transformers, *w.sinks, *w.streams]})
