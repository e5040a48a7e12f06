"""Packet loss: a share of the packets between nodes, or between clients and nodes, dropped at
random (iptables' statistic match: tc netem is absent from these kernels). Its rules are network
rules like a partition's, so the network sweep removes any a dead harness left."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from harness.cluster.backend import CLIENTS, Capability, Way
from harness.faults.base import Env, FaultSpec, Injected, fault
from harness.faults.partition import cut, tag
from harness.faults.targets import Target


@fault
class PacketLoss(FaultSpec):
    """Drop `share` of the packets between the target nodes and their peers: the other nodes, or
    the clients. Both ways, or only those arriving at the targets (`one_way`)."""

    fault: Literal["packet-loss"] = "packet-loss"
    needs: ClassVar = frozenset({Capability.NETWORK})
    share: float = Field(gt=0, le=1, description="of the packets dropped, e.g. 0.3")
    target: Target = Target(pick="all")
    peers: Literal["nodes", "clients"] = "nodes"
    one_way: bool = Field(False, description="only the packets the targets receive")

    def capabilities(self):
        """Loss towards the clients needs only the client side of the network."""
        mine = {Capability.CLIENT_NETWORK} if self.peers == "clients" else {Capability.NETWORK}
        return super().capabilities() - {Capability.NETWORK} | mine

    def inject(self, env: Env) -> Injected:
        ids = self.target.resolve(env)
        network = env.client_network if self.peers == "clients" else env.network
        if self.peers == "clients":
            ways = [Way.IN] if self.one_way else [Way.IN, Way.OUT]
            drops = [(node, CLIENTS, way) for node in ids for way in ways]
        else:
            drops = [(node, peer, Way.IN) for node in ids for peer in env.cluster.node_ids if peer != node]
            if not self.one_way:  # the peers drop what the targets send them
                drops += [(peer, node, Way.IN) for node in ids for peer in env.cluster.node_ids
                          if peer not in ids]
        text = f"{self.share:.0%} packet loss between nodes {ids} and {self.peers}{' (one way)' if self.one_way else ''}"
        return cut(network, tag(self), drops, text, ids, self.share)
