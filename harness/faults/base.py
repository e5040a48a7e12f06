"""What a fault is: a small typed spec that knows the capabilities it needs, how to inject itself
and how to heal; and what a fault family leaves behind when a harness dies mid-fault.

    @fault
    class Pause(FaultSpec):
        fault: Literal["pause"] = "pause"
        needs: ClassVar = frozenset({Capability.PROCESSES})
        target: Target
        def inject(self, env) -> Injected: ...

    @sweep(Capability.PROCESSES)
    def nodes_back(cluster) -> list[str]: ...     # heal_leftovers runs every family's sweep

Registering is the decorator, and every module of this package is imported, so adding a fault
is adding one class (and, for a new kind of leftover, one sweep). An experiment asking for a
capability its backend lacks is refused at validation, before anything starts.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, cast

from pydantic import BaseModel, ConfigDict

from harness.cluster.backend import (Backend, Capability, Clocks, Disks, Network, Power, Processes, ProtocolFaults,
                                     ProxyPath, Proxies, Security, Topology)
from harness.errors import KafkaChaosError
from harness.process import ProcessState

if TYPE_CHECKING:
    from harness.events import EventLog
    from harness.mirror.maker import MirrorMaker
    from harness.workload.launcher import Workload

FAULTS: dict[str, type["FaultSpec"]] = {}


class FaultError(KafkaChaosError):
    """A fault could not be applied (its target does not exist, the cluster has no leader...)."""


@dataclass
class Env:
    """What faults act on: the cluster, through the capabilities it offers, and the workload."""

    cluster: Backend
    events: "EventLog"
    rng: random.Random
    workload: "Workload | None" = None
    mirror: "MirrorMaker | None" = None  # MirrorMaker 2 to a replica cluster (harness.mirror)

    def offering(self, capability: Capability) -> Backend:
        if capability not in self.cluster.capabilities:
            raise FaultError(f"backend {self.cluster.name} offers no {capability}")
        return self.cluster

    @property
    def processes(self) -> Processes:
        return cast(Processes, self.offering(Capability.PROCESSES))

    @property
    def topology(self) -> Topology:
        return cast(Topology, self.offering(Capability.TOPOLOGY))

    @property
    def network(self) -> Network:
        return cast(Network, self.offering(Capability.NETWORK))

    @property
    def client_network(self) -> Network:
        """The network between the nodes and the clients only (peer `clients`)."""
        return cast(Network, self.offering(Capability.CLIENT_NETWORK))

    @property
    def proxies(self) -> Proxies:
        return cast(Proxies, self.offering(Capability.PROXIES))

    def proxies_on(self, path: ProxyPath) -> Proxies:
        """The proxies of one path: the client path needs no more than CLIENT_PROXIES."""
        return cast(Proxies, self.offering(Capability.CLIENT_PROXIES if path == "clients" else Capability.PROXIES))

    @property
    def disks(self) -> Disks:
        return cast(Disks, self.offering(Capability.DISKS))

    @property
    def power(self) -> Power:
        return cast(Power, self.offering(Capability.POWER))

    @property
    def clocks(self) -> Clocks:
        return cast(Clocks, self.offering(Capability.CLOCKS))

    @property
    def protocol(self) -> ProtocolFaults:
        return cast(ProtocolFaults, self.offering(Capability.PROTOCOL))

    @property
    def security(self) -> Security:
        return cast(Security, self.offering(Capability.SECURITY).access)


@dataclass
class Injected:
    """A fault in effect: what was done, to whom, and how to undo it."""

    text: str  # "node 2 isolated (leader of orders-0)"
    targets: list = field(default_factory=list)
    applied: list[str] = field(default_factory=list)  # the exact rules, signals, toxics
    heal: Callable[[], str] = lambda: "nothing to heal"  # undoes it; returns what it did


class Provisions(BaseModel):
    """What the cluster must be started with for a fault to work: proxies on a path, a disk of
    each node's own to fill, data directories on lazyfs, clocks of their own, the Kafka-protocol
    proxy on the client path."""

    model_config = ConfigDict(frozen=True)

    proxies: frozenset[ProxyPath] = frozenset()
    own_disks: bool = False
    lazyfs: bool = False
    faketime: bool = False
    protocol_proxy: bool = False


@dataclass(frozen=True)
class World:
    """What an experiment declares, for a fault to check itself against before anything starts."""

    nodes: tuple[int, ...]  # node ids
    topics: dict[str, tuple[int, int]]  # name -> (partitions, replication factor)
    database: bool = False  # the run has a database of its own (its workload has sinks)
    mirror: bool = False  # the run mirrors its cluster to a replica (MirrorMaker 2)


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    needs: ClassVar[frozenset[Capability]] = frozenset()

    @property
    def name(self) -> str:
        return self.fault  # every registered spec has a `fault: Literal[...]` field

    def capabilities(self) -> frozenset[Capability]:
        """What this fault needs of the backend: its own needs and those of its targets."""
        found = set(self.needs)
        for value in self.__dict__.values():
            found |= getattr(value, "needs", frozenset()) if isinstance(value, BaseModel) else set()
        return frozenset(found)

    def provisions(self) -> Provisions:
        return Provisions()

    def pinned(self, nodes: list[int]) -> "FaultSpec":
        """This fault aimed at `nodes` for good, where it picked them at random or took them
        all: what a replay runs, so node 2 stays node 2. A leader or controller is found again."""
        from harness.faults.targets import Target  # targets build on this module

        update = {name: Target.of(nodes) for name, value in self.__dict__.items()
                  if isinstance(value, Target) and value.pick in ("random", "minority", "majority", "all")}
        return self.model_copy(update=update) if update and nodes else self

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


# ---- what faults of a dead harness left behind -----------------------------------------------


@dataclass(frozen=True)
class Sweep:
    capability: Capability
    run: Callable[[Backend], list[str]]
    last: bool  # runs after the others (starting nodes once their disks are usable again)


SWEEPS: list[Sweep] = []


def sweep(capability: Capability, last: bool = False):
    """Register how a fault family removes what its faults leave on a cluster (`heal_leftovers`)."""
    def register(run: Callable[[Backend], list[str]]) -> Callable[[Backend], list[str]]:
        SWEEPS.append(Sweep(capability, run, last))
        return run

    return register


def heal_leftovers(cluster: Backend) -> list[str]:
    """Undo what faults may have left on a running cluster (rules, toxics, full disks, read-only
    mounts, paused and dead nodes): every family's sweep the backend can run. What it did."""
    done = []
    for each in sorted(SWEEPS, key=lambda s: s.last):
        if each.capability in cluster.capabilities:
            done += each.run(cluster)
    return done


# ---- shared by the node faults ---------------------------------------------------------------


def node_list(ids: list[int]) -> str:
    return "node " + ", ".join(map(str, ids)) if len(ids) == 1 else "nodes " + ", ".join(map(str, ids))


def restart_dead(env: Env, ids: list[int]) -> str:
    """Start each of the nodes `ids` that is down (killed, or stopped by Kafka itself); says which."""
    processes = env.processes
    started = [i for i in ids if processes.node(i).status == ProcessState.DEAD]
    for node_id in started:
        processes.node(node_id).start()
    return f"started {node_list(started)}" if started else "all running"
