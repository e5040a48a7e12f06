"""Whom a fault hits, resolved at inject time: a node, the leader or followers of a partition,
the active controller, or a random one / minority / majority / all of the nodes.

In experiment files a target is written `2`, `[1, 3]`, `controller`, `random`, `minority`,
`majority`, `all`, `{leader: {topic: orders, partition: 0}}` or `{followers: {topic: orders}}`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from harness.cluster.backend import Capability
from harness.faults.base import Env, FaultError
from harness.names import TopicName

Pick = Literal["controller", "random", "minority", "majority", "all"]
SETTLE_S = 30.0  # how long to wait for a leader or controller to exist


class TopicPartition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    topic: TopicName
    partition: int = Field(0, ge=0)

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    node: int | None = None
    nodes: list[int] | None = Field(None, min_length=1)
    leader: TopicPartition | None = None
    followers: TopicPartition | None = None
    pick: Pick | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value):
        if isinstance(value, bool):
            raise ValueError("a target is a node id, a pick or a mapping")
        if isinstance(value, int):
            return {"node": value}
        if isinstance(value, list):
            return {"nodes": value}
        if isinstance(value, str):
            return {"pick": value}
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> "Target":
        if sum(x is not None for x in (self.node, self.nodes, self.leader, self.followers, self.pick)) != 1:
            raise ValueError("a target is exactly one of: a node id, a list of node ids, leader, followers, or a pick")
        return self

    @classmethod
    def of(cls, ids: list[int]) -> "Target":
        """The nodes `ids` exactly."""
        return cls(node=ids[0]) if len(ids) == 1 else cls(nodes=sorted(ids))

    def __str__(self) -> str:
        if self.node is not None:
            return f"node {self.node}"
        if self.nodes is not None:
            return "nodes " + ", ".join(map(str, self.nodes))
        if self.leader:
            return f"leader of {self.leader}"
        if self.followers:
            return f"followers of {self.followers}"
        return str(self.pick)

    @property
    def needs(self) -> frozenset[Capability]:
        """Leaders and followers are found through the cluster's topology, the controller
        through its quorum."""
        if self.pick == "controller":
            return frozenset({Capability.QUORUM})
        return frozenset({Capability.TOPOLOGY}) if self.leader or self.followers else frozenset()

    def resolve(self, env: Env) -> list[int]:
        """Node ids, chosen now (random picks from the seeded generator, in id order)."""
        ids = env.cluster.node_ids
        if self.node is not None or self.nodes is not None:
            wanted = [self.node] if self.node is not None else sorted(set(self.nodes))
            if unknown := [n for n in wanted if n not in ids]:
                raise FaultError(f"cluster {env.cluster.name} has no node {unknown[0]} (nodes: {ids})")
            return wanted
        if self.leader:
            leader = self.leader
            return [_settle(lambda: env.topology.leader(leader.topic, leader.partition), f"a leader of {leader}")]
        if self.followers:
            state = env.topology.partition(self.followers.topic, self.followers.partition)
            return sorted(set(state.replicas) - {state.leader})
        if self.pick == "controller":
            return [_settle(env.topology.active_controller, "an active controller")]
        if self.pick == "random":
            return [env.rng.choice(ids)]
        if self.pick == "minority":
            return sorted(env.rng.sample(ids, (len(ids) - 1) // 2 or 1))
        if self.pick == "majority":
            return sorted(env.rng.sample(ids, len(ids) // 2 + 1))
        return ids


def _settle(find, what: str) -> int:
    retrying = Retrying(stop=stop_after_delay(SETTLE_S), wait=wait_fixed(0.25),
                        retry=retry_if_result(lambda found: found is None))
    try:
        return retrying(_quiet(find))
    except RetryError:
        raise FaultError(f"no target: the cluster had no {what} for {SETTLE_S:.0f} s") from None


def _quiet(find):
    def attempt():
        try:
            return find()
        except Exception:  # noqa: BLE001  (metadata unavailable mid-failover: try again)
            return None

    return attempt
