"""What to mirror where (the experiment's `mirror:`), and MirrorMaker 2's properties for it (pure).

The primary is the run's own cluster; the replica a second local cluster in a lab subnet of its
own (the second "data centre"). MirrorMaker 2 runs as one dedicated-mode process
(org.apache.kafka.connect.mirror.MirrorMaker) with the primary->replica flow only; under the
default replication policy the replica holds topic T as `primary.T`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.cluster.spec import ClusterSpec

PRIMARY, REPLICA = "primary", "replica"  # MirrorMaker's cluster aliases
MAIN_CLASS = "org.apache.kafka.connect.mirror.MirrorMaker"
ARTIFACT = "connect-mirror"  # org.apache.kafka:connect-mirror, resolved and cached like the brokers' jars


class MirrorSpec(BaseModel):
    """A replica cluster and MirrorMaker 2 between the two."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replica: ClusterSpec = Field(
        default_factory=lambda: ClusterSpec(name="replica", nodes=1, subnet=1, port_base=19500, heap_mb=256),
        description="the second cluster (its own name, lab subnet and ports)")
    kafka_version: str | None = Field(None, description="MirrorMaker's version (org.apache.kafka:connect-mirror); "
                                                        "default: the replica's")
    heap_mb: int = Field(256, ge=128, le=4096, description="MirrorMaker's JVM heap")
    emit_checkpoints: bool = Field(True, description="checkpoints: the primary's group offsets, translated")
    sync_group_offsets: bool = Field(True, description="write the translated offsets into the replica's groups, "
                                                       "so a consumer failing over resumes there")
    interval_s: int = Field(1, ge=1, le=60, description="how often topics and groups are looked for, checkpoints "
                                                        "emitted and group offsets synced")
    failover_reset: Literal["earliest", "latest"] = Field(
        "earliest", description="where a consumer failing over to the replica starts when its group there has no "
                                "offsets (MirrorMaker synced none, or the group never committed on a partition): "
                                "the run's consumers' own auto.offset.reset by default")
    offset_lag_max: int = Field(0, ge=0, description="records the replica may run ahead of the last offset sync: "
                                                     "how far a translated offset can fall behind (0: every record)")

    def replica_topic(self, topic: str) -> str:
        """Where the replica holds a primary topic (DefaultReplicationPolicy: alias and a dot)."""
        return f"{PRIMARY}.{topic}"


def alternatives(names: list[str]) -> str:
    """A regular expression matching exactly these names."""
    return "|".join(re.escape(n) for n in sorted(names)) or "^$"


def properties(spec: MirrorSpec, primary: str, replica: str, topics: list[str], groups: list[str]) -> dict[str, str]:
    """MirrorMaker 2's dedicated-mode properties: replicate `topics` and `groups` from the
    `primary` bootstrap to the `replica` one, and nothing back."""
    flow, back = f"{PRIMARY}->{REPLICA}", f"{REPLICA}->{PRIMARY}"
    interval = str(spec.interval_s)
    internal_rf = str(min(3, spec.replica.nodes))
    props = {
        "clusters": f"{PRIMARY}, {REPLICA}",
        f"{PRIMARY}.bootstrap.servers": primary,
        f"{REPLICA}.bootstrap.servers": replica,
        f"{flow}.enabled": "true",
        f"{back}.enabled": "false",
        f"{flow}.topics": alternatives(topics),
        f"{flow}.groups": alternatives(groups),
        "tasks.max": "1",
        "replication.factor": internal_rf,
        "emit.checkpoints.enabled": str(spec.emit_checkpoints).lower(),
        "emit.checkpoints.interval.seconds": interval,
        "sync.group.offsets.enabled": str(spec.sync_group_offsets).lower(),
        "sync.group.offsets.interval.seconds": interval,
        "refresh.topics.interval.seconds": interval,
        "refresh.groups.interval.seconds": interval,
        "emit.heartbeats.interval.seconds": interval,
        "offset.lag.max": str(spec.offset_lag_max),
        "offset.flush.interval.ms": str(spec.interval_s * 1000),  # a killed MirrorMaker copies less again
        "offset-syncs.topic.location": "target",  # every internal topic on the replica, sized for it
        "sync.topic.acls.enabled": "false",
        "dedicated.mode.enable.internal.rest": "false",
        # what the replica acknowledges is what the primary's acks=all promised
        f"{REPLICA}.producer.acks": "all",
        f"{REPLICA}.producer.enable.idempotence": "true",
    }
    for topic in ("checkpoints", "heartbeats", "offset-syncs", "offset.storage", "status.storage", "config.storage"):
        props[f"{topic}.topic.replication.factor" if "." not in topic else f"{topic}.replication.factor"] = internal_rf
    return props


def render(props: dict[str, str]) -> str:
    """A .properties file: backslashes doubled, or Java's loader eats the regular expressions'."""
    return "".join(f"{key}={value.replace(chr(92), chr(92) * 2)}\n" for key, value in props.items())
