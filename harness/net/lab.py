"""Namespaces and a bridge: one network namespace per Kafka node, all on a lab bridge.

Addresses come from 198.18.0.0/15 (reserved for network testing): 198.18.<subnet>.1 is the
bridge in the root namespace (where clients and the harness live) and node N is
198.18.<subnet>.<10+N>. Everything is named after the cluster with the prefix `kc-`, so a
sweep can find what a killed harness left behind.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from harness.errors import UsageError
from harness.net.command import quietly, run

PREFIX = "kc-"
_CAP_NET_ADMIN = 12


def has_net_admin() -> bool:
    """True when this process may create namespaces, bridges and iptables rules."""
    if shutil.which("ip") is None:
        return False
    with open("/proc/self/status") as status:
        caps = next((line.split()[1] for line in status if line.startswith("CapEff:")), "0")
    return bool(int(caps, 16) >> _CAP_NET_ADMIN & 1)


@dataclass(frozen=True)
class Lab:
    """Names and addresses of one cluster's lab network."""

    cluster: str
    subnet: int

    @property
    def bridge(self) -> str:
        return f"{PREFIX}{self.cluster}"

    @property
    def gateway(self) -> str:
        """The root namespace's address on the bridge: where client traffic comes from."""
        return f"198.18.{self.subnet}.1"

    def namespace(self, node_id: int) -> str:
        return f"{PREFIX}{self.cluster}-n{node_id}"

    def address(self, node_id: int) -> str:
        return f"198.18.{self.subnet}.{10 + node_id}"

    def _host_veth(self, node_id: int) -> str:
        return f"{PREFIX}{self.cluster}-{node_id}"  # at most 15 characters: kc- + 8 + - + 3

    @property
    def subnet_cidr(self) -> str:
        return f"198.18.{self.subnet}.0/24"

    def refuse_if_taken(self) -> None:
        """A UsageError when another interface (another cluster's bridge) holds our gateway."""
        holder = run(["ip", "-o", "addr", "show", "to", self.gateway], check=False).stdout.split()
        if holder:
            raise UsageError(f"lab subnet {self.subnet_cidr} is already used by {holder[1]}: "
                             "give this cluster another subnet")

    def create_bridge(self) -> None:
        self.remove_bridge()
        self.refuse_if_taken()
        run(["ip", "link", "add", self.bridge, "type", "bridge"])
        run(["ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge])
        run(["ip", "link", "set", self.bridge, "up"])

    def add_node(self, node_id: int) -> str:
        """Create node_id's namespace wired to the bridge; returns the namespace name."""
        ns, veth = self.namespace(node_id), self._host_veth(node_id)
        self.remove_node(node_id)
        run(["ip", "netns", "add", ns])
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
        run(["ip", "link", "set", veth, "master", self.bridge, "up"])
        run(["ip", "-n", ns, "addr", "add", f"{self.address(node_id)}/24", "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        return ns

    def remove_node(self, node_id: int) -> None:
        quietly(["ip", "netns", "del", self.namespace(node_id)])  # takes the veth pair with it
        quietly(["ip", "link", "del", self._host_veth(node_id)])

    def remove_bridge(self) -> None:
        quietly(["ip", "link", "del", self.bridge])


def namespaces(cluster: str | None = None) -> list[str]:
    """Lab namespaces present on this machine (of one cluster, or of all)."""
    prefix = f"{PREFIX}{cluster}-n" if cluster else PREFIX
    out = run(["ip", "netns", "list"], check=False).stdout if shutil.which("ip") else ""
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


def bridges(cluster: str | None = None) -> list[str]:
    """Lab bridges present on this machine (of one cluster, or of all)."""
    if not os.path.isdir("/sys/class/net"):
        return []
    names = [n for n in os.listdir("/sys/class/net") if os.path.isdir(f"/sys/class/net/{n}/bridge")]
    return [n for n in names if (n == f"{PREFIX}{cluster}" if cluster else n.startswith(PREFIX))]


def sweep(cluster: str | None = None) -> list[str]:
    """Remove every lab namespace and bridge (of one cluster, or all); returns what was removed."""
    removed = [ns for ns in namespaces(cluster) if quietly(["ip", "netns", "del", ns])]
    removed += [br for br in bridges(cluster) if quietly(["ip", "link", "del", br])]
    return removed
