"""Cluster operations during load: adding partitions (seed scenario 30: it breaks the
key-to-partition mapping, and with it per-key order), preferred leader election."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from harness.cluster.backend import Capability
from harness.faults.base import Env, FaultError, FaultSpec, Injected, World, fault
from harness.faults.targets import TopicPartition
from harness.names import TopicName


@fault
class AddPartitions(FaultSpec):
    fault: Literal["add-partitions"] = "add-partitions"
    needs: ClassVar = frozenset({Capability.TOPOLOGY})
    topic: TopicName
    to: int = Field(ge=2, le=1000, description="the topic's new partition count")

    def conflicts(self, world: World):
        partitions = world.topics.get(self.topic, (0, 0))[0]
        if self.topic in world.topics and self.to <= partitions:
            yield ("to",), f"{self.topic} already has {partitions} partitions: `to` must be more"

    def inject(self, env: Env) -> Injected:
        from confluent_kafka import KafkaException

        try:
            env.cluster.admin().add_partitions(self.topic, self.to)
        except KafkaException as exc:
            raise FaultError(f"adding partitions to {self.topic}: {exc.args[0].str()}") from None
        env.topology.wait_in_sync([self.topic])
        return Injected(f"{self.topic} now has {self.to} partitions (cannot be undone)", [self.topic],
                        [f"CreatePartitions {self.topic} -> {self.to}"])


@fault
class ElectPreferredLeader(FaultSpec):
    """Move leadership back to each partition's preferred (first) replica."""

    fault: Literal["elect-preferred-leader"] = "elect-preferred-leader"
    partitions: list[TopicPartition] = Field(min_length=1)

    def inject(self, env: Env) -> Injected:
        outcome = env.cluster.admin().elect_preferred([(p.topic, p.partition) for p in self.partitions])
        return Injected(f"preferred leader election: {outcome}", [str(p) for p in self.partitions],
                        [f"ElectLeaders PREFERRED {sorted(outcome)}"])
