"""Network partitions, shaped like Jepsen's nemeses, through the backend's network capability.

A shape is a grudge: for each node, the nodes whose packets it drops. Dropping on input at both
ends cuts a pair both ways; a one-way cut drops on one end only. Every rule is tagged with the
fault's id: heal removes exactly its own rules, and the sweep removes any rule a dead harness left.
"""

from __future__ import annotations

import random
import uuid
from typing import ClassVar, Literal

from harness.cluster.backend import CLIENTS, Backend, Capability, Network, Peer, Way
from harness.faults.base import Env, FaultError, FaultSpec, Injected, World, fault, sweep
from harness.faults.targets import Target

Grudge = dict[int, set[int]]


def split(components: list[set[int]]) -> Grudge:
    """Nodes in different components cannot hear each other."""
    everyone = set().union(*components)
    return {n: everyone - part for part in components for n in part if everyone - part}


def bridge(nodes: list[int], rng: random.Random) -> Grudge:
    """Two halves that cannot talk, and one node in the middle that talks to both."""
    shuffled = rng.sample(nodes, len(nodes))
    middle = len(shuffled) // 2
    left, right = set(shuffled[:middle]), set(shuffled[middle + 1:])
    return {n: (right if n in left else left) for n in left | right}


def majorities_ring(nodes: list[int], rng: random.Random) -> Grudge:
    """Every node hears a majority, no two nodes the same majority (needs 5 or more nodes)."""
    if len(nodes) < 5:
        raise FaultError(f"a majorities ring needs at least 5 nodes, the cluster has {len(nodes)}")
    ring = rng.sample(nodes, len(nodes))
    majority = len(ring) // 2 + 1
    left = (majority - 1) // 2
    right = majority - 1 - left
    grudge = {}
    for i, node in enumerate(ring):
        heard = {ring[(i + d) % len(ring)] for d in range(-left, right + 1)}
        grudge[node] = set(ring) - heard
    return grudge


def one_way(grudge: Grudge, isolated: set[int]) -> Grudge:
    """Only the isolated side drops: it hears nothing, but what it sends arrives."""
    return {n: peers for n, peers in grudge.items() if n in isolated}


@fault
class Partition(FaultSpec):
    """Cut the cluster's nodes from each other.

    isolate: the target nodes from the rest · halves: a random split in two · minority: a
    minority (the target, or chosen at random) from the majority · bridge · majorities-ring.
    """

    fault: Literal["partition"] = "partition"
    needs: ClassVar = frozenset({Capability.NETWORK})
    shape: Literal["isolate", "halves", "minority", "bridge", "majorities-ring"] = "isolate"
    target: Target | None = None
    one_way: bool = False

    def pinned(self, nodes: list[int]) -> FaultSpec:
        """Isolating nodes picked at random (or a random half) is isolating those nodes; the other
        shapes draw from the fault's own generator, which a replay seeds the same."""
        if self.shape not in ("isolate", "minority", "halves") or not nodes:
            return self
        if self.target is not None and self.target.pick not in ("random", "minority", "majority", "all"):
            return self
        return self.model_copy(update={"shape": "isolate", "target": Target.of(nodes)})

    def inject(self, env: Env) -> Injected:
        nodes = env.cluster.node_ids
        isolated: set[int] = set()
        if self.shape in ("isolate", "minority"):
            default = "random" if self.shape == "isolate" else "minority"
            isolated = set((self.target or Target(pick=default)).resolve(env))
            grudge = split([isolated, set(nodes) - isolated])
        elif self.shape == "halves":
            shuffled = env.rng.sample(nodes, len(nodes))
            isolated = set(shuffled[: len(nodes) // 2])
            grudge = split([isolated, set(nodes) - isolated])
        elif self.shape == "bridge":
            grudge = bridge(nodes, env.rng)
        else:
            grudge = majorities_ring(nodes, env.rng)
        if self.one_way:
            grudge = one_way(grudge, isolated or set(grudge))
        drops = [(n, peer, Way.IN) for n, peers in sorted(grudge.items()) for peer in sorted(peers)]
        what = f"{self.shape} {sorted(isolated)}" if isolated else f"{self.shape} {dict(sorted(grudge.items()))}"
        return cut(env.network, tag(self), drops, f"partition: {what}{' (one way)' if self.one_way else ''}",
                   sorted(isolated or grudge))

    def conflicts(self, world: World):
        least = _LEAST_NODES[self.shape]
        if len(world.nodes) < least:
            yield ("shape",), f"{self.shape} needs at least {least} nodes, the cluster has {len(world.nodes)}"
        if self.target is not None and self.shape not in ("isolate", "minority"):
            yield ("target",), f"shape {self.shape} picks its own sides: a target is not used"
        if self.target is not None and self.target.pick == "all":
            yield ("target",), "isolating every node from no one cuts nothing"


_LEAST_NODES = {"isolate": 2, "minority": 2, "halves": 2, "bridge": 3, "majorities-ring": 5}


@fault
class CutClients(FaultSpec):
    """Cut clients (everything outside the cluster: workers, the harness) off the target nodes."""

    fault: Literal["cut-clients"] = "cut-clients"
    needs: ClassVar = frozenset({Capability.CLIENT_NETWORK})
    target: Target = Target(pick="all")

    def inject(self, env: Env) -> Injected:
        ids = self.target.resolve(env)
        drops = [(n, CLIENTS, way) for n in ids for way in (Way.IN, Way.OUT)]
        return cut(env.client_network, tag(self), drops, f"clients cut off nodes {ids}", ids)


@sweep(Capability.CLIENT_NETWORK)  # every backend with NETWORK offers CLIENT_NETWORK too
def rules(cluster: Backend) -> list[str]:
    return cluster.sweep_rules()


def tag(spec: FaultSpec) -> str:
    """A fault's id, carried by every rule it adds."""
    return f"{spec.name}-{uuid.uuid4().hex[:8]}"


def cut(network: Network, tag: str, drops: list[tuple[int, Peer, Way]], text: str, targets: list[int],
        share: float = 1.0) -> Injected:
    """Apply every drop (node, peer, way) under `tag`, all or none; healed by removing the tag's rules."""
    applied = []
    try:
        for node, peer, way in drops:
            applied.append(network.drop(node, peer, way, tag, share))
    except Exception:
        network.undrop(tag)
        raise

    def heal() -> str:
        removed = network.undrop(tag)
        return f"removed {removed} rules" + (f"; {len(applied) - removed} were already gone" if removed < len(applied)
                                              else "")

    return Injected(text, targets, applied, heal)
