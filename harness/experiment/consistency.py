"""Experiments that validate field by field yet cannot mean what they say: a topic declared twice,
a min ISR no write can meet, a fault after the fault phase, a fault naming a topic, partition or
node the experiment does not have. Each problem is (field path, reason), the first one refused.

Faults are checked generically, by walking their typed fields (a `TopicPartition`, a `Target`, a
`TopicName`), then by their own `conflicts` for what only the fault knows.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic import BaseModel

from harness.faults.base import World
from harness.faults.cluster_ops import AddPartitions
from harness.faults.schedule import Timeline
from harness.faults.targets import Target, TopicPartition
from harness.names import Logical, logical_kind
from harness.semantics import Semantics

if TYPE_CHECKING:
    from harness.experiment.model import Experiment

Problem = tuple[tuple, str]
MIN_ISR = "min.insync.replicas"


def problems(exp: Experiment) -> Iterator[Problem]:
    yield from _topics(exp)
    yield from _min_isr(exp)
    yield from _fault_phase(exp)
    yield from _streams(exp)
    yield from _mirror(exp)
    declared, grown = _world(exp, grown=False), _world(exp, grown=True)  # partitions named may be added ones
    for path, spec in exp.fault_paths():
        for loc, message in [*_references(spec, (), grown), *spec.conflicts(declared)]:
            yield path + loc, message


def _streams(exp: Experiment) -> Iterator[Problem]:
    """Kafka Streams instances log in to no secured cluster yet, and record their history only when
    they end, so a client fault cannot wait for a window of theirs."""
    if not exp.workload.streams:
        return
    secured = getattr(getattr(exp.cluster, "security", None), "secured", False)
    if secured or str(getattr(exp.cluster, "backend", "local")) != "local":
        yield ("workload", "streams"), "Kafka Streams workers run on the local backend's plaintext clusters only"
    names = {s.name for s in exp.workload.streams}
    for path, spec in exp.fault_paths():
        if getattr(spec, "worker", None) in names and str(getattr(spec, "window", "any")) != "any":
            yield (*path, "window"), f"a Kafka Streams worker ({spec.worker}) has no windows: use window: any"


def _topics(exp: Experiment) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for i, topic in enumerate(exp.topics):
        if topic.name in first:
            yield ("topics", i, "name"), f"topic {topic.name!r} is declared twice (also topics[{first[topic.name]}])"
        first.setdefault(topic.name, i)


def _mirror(exp: Experiment) -> Iterator[Problem]:
    """The replica is a second local cluster beside the run's own, and MirrorMaker's faults act on
    both from here: the run's cluster must be local too."""
    if exp.mirror is not None and str(exp.cluster.backend) != "local":
        yield ("mirror",), f"a mirror needs the local backend for the primary, not {exp.cluster.backend}"


# ---- min.insync.replicas ----------------------------------------------------------------------


def _positive_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value) or None
    return None


def _min_isr(exp: Experiment) -> Iterator[Problem]:
    """acks=all writes need min.insync.replicas in-sync replicas: more than the replicas there are,
    and no such write can ever succeed."""
    broker = exp.cluster.broker_config
    broker_path = ("cluster", "broker_config", MIN_ISR)
    cluster_min = min(2, min(3, exp.cluster.nodes))  # the lab's default (cluster.layout.lab_defaults)
    if MIN_ISR in broker:
        cluster_min = _positive_int(broker[MIN_ISR])
        if cluster_min is None:
            yield broker_path, f"should be a positive integer, not {broker[MIN_ISR]!r}"
            return
    yield from _internal_topics(exp, cluster_min)
    for i, topic in enumerate(exp.topics):
        own = topic.config.get(MIN_ISR)
        if own is not None:
            needed = _positive_int(own)
            if needed is None:
                yield ("topics", i, "config", MIN_ISR), f"should be a positive integer, not {own!r}"
            elif needed > topic.replication_factor:
                yield ("topics", i, "config", MIN_ISR), (
                    f"{needed} > replication factor {topic.replication_factor}: acks=all writes could never succeed")
        elif cluster_min > topic.replication_factor and _written_with_acks_all(exp, topic.name):
            where = broker_path if MIN_ISR in broker else ("topics", i, "replication_factor")
            yield where, (f"topic {topic.name} has replication factor {topic.replication_factor} but the cluster's "
                          f"min.insync.replicas is {cluster_min}: its acks=all writes could never succeed (set the "
                          f"topic's config min.insync.replicas)")


def _internal_topics(exp: Experiment, cluster_min: int) -> Iterator[Problem]:
    """Consumer offsets are written with acks=all at the cluster's min ISR; the transaction log
    at its own."""
    broker, nodes = exp.cluster.broker_config, exp.cluster.nodes
    path = ("cluster", "broker_config")
    offsets_rf = _positive_int(broker.get("offsets.topic.replication.factor", min(3, nodes)))
    txn_rf = _positive_int(broker.get("transaction.state.log.replication.factor", min(3, nodes)))
    txn_min = _positive_int(broker.get("transaction.state.log.min.isr", min(2, min(3, nodes))))
    for key, value in (("offsets.topic.replication.factor", offsets_rf),
                       ("transaction.state.log.replication.factor", txn_rf),
                       ("transaction.state.log.min.isr", txn_min)):
        if value is None:
            yield path + (key,), f"should be a positive integer, not {broker[key]!r}"
            return
        if value > nodes and key.endswith("replication.factor"):
            yield path + (key,), f"{value} > {nodes} brokers"
    if cluster_min > offsets_rf:
        yield path + (MIN_ISR,), (f"{cluster_min} > the consumer offsets topic's replication factor {offsets_rf}: "
                                  "no consumer group could ever commit")
    if txn_min > txn_rf:
        yield path + ("transaction.state.log.min.isr",), (
            f"{txn_min} > the transaction log's replication factor {txn_rf}: no transaction could ever commit")


def _written_with_acks_all(exp: Experiment, topic: str) -> bool:
    for producer in exp.workload.producers:
        default = "1" if exp.semantics == Semantics.AT_MOST_ONCE else "all"
        if topic in producer.topics and str(producer.client.get("acks", default)) in ("all", "-1"):
            return True
    return any(t.output == topic for t in exp.workload.transformers) or any(
        c.dead_letter_topic == topic for c in exp.workload.consumers)


# ---- faults -----------------------------------------------------------------------------------


def _fault_phase(exp: Experiment) -> Iterator[Problem]:
    """Faults are planned inside the fault phase only: anything later would silently never happen."""
    length = exp.phases.faults_s
    if exp.faults is None:
        return
    if length == 0:
        yield ("phases", "faults_s"), "the fault phase lasts 0 s, yet faults are scheduled"
    elif isinstance(exp.faults, Timeline):
        for i, step in enumerate(exp.faults.steps):
            if step.at >= length:
                yield ("faults", "steps", i, "at"), (f"starts at {step.at:g} s, at or after the end of the fault "
                                                     f"phase (phases.faults_s: {length:g})")
    elif exp.faults.stable_s[0] >= length:
        yield ("faults", "stable_s"), (f"the first fault comes after at least {exp.faults.stable_s[0]:g} s of calm, "
                                       f"after the fault phase ends (phases.faults_s: {length:g})")


def _world(exp: Experiment, grown: bool) -> World:
    added = {}
    for _, spec in exp.fault_paths():
        if isinstance(spec, AddPartitions) and grown:
            added[spec.topic] = max(added.get(spec.topic, 0), spec.to)
    topics = {t.name: (max(t.partitions, added.get(t.name, 0)), t.replication_factor) for t in exp.topics}
    return World(nodes=tuple(sorted(exp.cluster.node_ids)), topics=topics, database=bool(exp.workload.sinks),
                 mirror=exp.mirror is not None)


def _references(value, loc: tuple, world: World, annotation=None) -> Iterator[Problem]:
    """Topics, partitions and nodes named anywhere in a fault's fields."""
    if isinstance(value, TopicPartition):
        yield from _partition(value, loc, world)
    elif isinstance(value, Target):
        for node in [value.node] if value.node is not None else value.nodes or []:
            if node not in world.nodes:
                yield loc, f"no node {node}: the cluster's nodes are {_span(world.nodes)}"
        for name in ("leader", "followers"):
            part = getattr(value, name)
            if part is not None:
                yield from _partition(part, loc + (name,), world)
        if value.followers is not None and world.topics.get(value.followers.topic, (0, 2))[1] < 2:
            yield loc + ("followers",), (f"{value.followers.topic} has replication factor 1: its partitions have no "
                                         "followers")
    elif isinstance(value, BaseModel):
        for name, field in type(value).model_fields.items():
            yield from _references(getattr(value, name), loc + (name,), world, _annotation(field))
    elif isinstance(value, (list, tuple)):
        inner = typing.get_args(annotation)[0] if typing.get_args(annotation) else None
        for i, item in enumerate(value):
            yield from _references(item, loc + (i,), world, inner)
    elif isinstance(value, str) and _names_topic(annotation) and value not in world.topics:
        yield loc, f"topic {value!r} is not declared under topics"


def _partition(tp: TopicPartition, loc: tuple, world: World) -> Iterator[Problem]:
    if tp.topic not in world.topics:
        yield loc + ("topic",), f"topic {tp.topic!r} is not declared under topics"
    elif tp.partition >= world.topics[tp.topic][0]:
        yield loc + ("partition",), f"{tp.topic} has no partition {tp.partition} (it has {world.topics[tp.topic][0]})"


def _annotation(field):
    """The field's type with its metadata, so a TopicName field is known for one."""
    if logical_kind(field.annotation, field.metadata) == "topic" and not typing.get_args(field.annotation):
        return typing.Annotated[str, Logical("topic")]
    return field.annotation


def _names_topic(annotation) -> bool:
    return logical_kind(annotation) == "topic"


def _span(ids: tuple[int, ...]) -> str:
    contiguous = len(ids) > 1 and list(ids) == list(range(ids[0], ids[-1] + 1))
    return f"{ids[0]}..{ids[-1]}" if contiguous else ", ".join(map(str, ids))
