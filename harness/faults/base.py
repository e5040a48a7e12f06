"""What a fault is: a small typed spec that knows how to inject itself and how to heal.

    @fault
    class Pause(FaultSpec):
        fault: Literal["pause"] = "pause"
        target: Target
        def inject(self, env) -> Injected: ...

Registering is the decorator; nothing else is edited to add a fault. A spec names the
capabilities it needs (`requires`), so an experiment asking for one the environment lacks is
refused before anything starts.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

from harness.errors import KafkaChaosError

if TYPE_CHECKING:
    from harness.cluster.local import LocalCluster
    from harness.events import EventLog
    from harness.net.toxiproxy import Toxiproxy
    from harness.workload.launcher import Workload

FAULTS: dict[str, type["FaultSpec"]] = {}


class FaultError(KafkaChaosError):
    """A fault could not be applied (its target does not exist, the cluster has no leader...)."""


@dataclass
class Env:
    """Everything faults may act on."""

    cluster: "LocalCluster"
    events: "EventLog"
    rng: random.Random
    workload: "Workload | None" = None
    toxiproxy: "Toxiproxy | None" = None


def node_list(ids: list[int]) -> str:
    return "node " + ", ".join(map(str, ids)) if len(ids) == 1 else "nodes " + ", ".join(map(str, ids))


def restart_dead(env: Env, ids: list[int]) -> str:
    """Start each of the nodes `ids` that is down (killed, or stopped by Kafka itself); says which."""
    started = [i for i in ids if env.cluster.node(i).status == "dead"]
    for node_id in started:
        env.cluster.node(node_id).start()
    return f"started {node_list(started)}" if started else "all running"


@dataclass
class Injected:
    """A fault in effect: what was done, to whom, and how to undo it."""

    text: str  # "node 2 isolated (leader of orders-0)"
    targets: list = field(default_factory=list)
    applied: list[str] = field(default_factory=list)  # the exact rules, signals, toxics
    heal: Callable[[], str] = lambda: "nothing to heal"  # undoes it; returns what it did


@dataclass(frozen=True)
class World:
    """What an experiment declares, for a fault to check itself against before anything starts."""

    nodes: tuple[int, ...]  # node ids
    topics: dict[str, tuple[int, int]]  # name -> (partitions, replication factor)


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    requires: ClassVar[frozenset[str]] = frozenset({"processes"})  # checked by experiment.loader

    @property
    def name(self) -> str:
        return self.fault  # every registered spec has a `fault: Literal[...]` field

    def conflicts(self, world: World) -> Iterator[tuple[tuple, str]]:
        """(field, problem) for each way this fault cannot do what it says in `world`. The topics,
        partitions and nodes its fields name are checked for every fault (experiment.faults)."""
        return iter(())

    def inject(self, env: Env) -> Injected:
        raise NotImplementedError


def fault(cls: type[FaultSpec]) -> type[FaultSpec]:
    """Register a fault spec under the literal value of its `fault` field."""
    name = cls.model_fields["fault"].default
    if name in FAULTS:
        raise ValueError(f"fault {name!r} registered twice")
    FAULTS[name] = cls
    return cls
