"""The path between the workers and the brokers of a cluster the harness did not start, degraded
on this machine without changing the cluster's advertised listeners: Toxiproxy gets a proxy per
broker, and a NAT rule sends this machine's connections to each broker's advertised address
through it instead. Toxiproxy itself runs under a group of its own, which the NAT rule leaves
alone (iptables' owner match), so its own connections reach the real broker.

Connections opened before the redirect (none of the run's workers: they start after it) go
straight to the broker. Every rule is tagged `kafka-chaos:<cluster>:redirect`; `sweep` removes
them and the Toxiproxy after a killed harness.
"""

from __future__ import annotations

import socket
from pathlib import Path

from harness.cluster.backend import ProxyPath
from harness.errors import EnvironmentProblem
from harness.net import iptables
from harness.net.shell import LOCAL, Shell
from harness.net.toxiproxy import Toxiproxy
from harness.process import ProcessRef

PROXY_GROUP = 65534  # nogroup: only Toxiproxy's connections are spared by the redirect


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def resolve(address: str) -> tuple[str, int]:
    """An advertised host:port as the IPv4 address and port this machine connects to."""
    host, port = address.rsplit(":", 1)
    try:
        return socket.gethostbyname(host.strip("[]")), int(port)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot resolve broker address {address}: {exc}") from None


def redirect_spec(name: str, ip: str, port: int, proxy_port: int) -> list[str]:
    return ["OUTPUT", "-p", "tcp", "-d", ip, "--dport", str(port), "-m", "owner", "!", "--gid-owner",
            str(PROXY_GROUP), "-m", "comment", "--comment", f"{iptables.TAG}:{name}:redirect", "-j", "DNAT",
            "--to-destination", f"127.0.0.1:{proxy_port}"]


class ClientPath:
    """Toxiproxy between this machine's clients and each broker."""

    def __init__(self, name: str, shell: Shell = LOCAL):
        self.name, self.shell = name, shell
        self.toxiproxy: Toxiproxy | None = None

    def start(self, brokers: dict[int, str], log: Path) -> ProcessRef:
        """A proxy per broker (id -> advertised host:port) and the redirect through it."""
        self.toxiproxy = Toxiproxy(_free_port())
        process = self.toxiproxy.start(log, group=PROXY_GROUP)
        for node, address in sorted(brokers.items()):
            ip, port = resolve(address)
            listen = _free_port()
            self.toxiproxy.add_proxy(_proxy(node), f"127.0.0.1:{listen}", f"{ip}:{port}")
            self.shell.run(["iptables", "-w", "-t", "nat", "-A", *redirect_spec(self.name, ip, port, listen)])
        return process

    def attach(self, pid: ProcessRef | None, port: int | None) -> None:
        if pid and port:
            self.toxiproxy = Toxiproxy(port)
            self.toxiproxy.process = pid

    def add_toxic(self, path: ProxyPath, node: int, name: str, kind: str, attributes: dict, stream: str) -> str:
        self._clients_only(path)
        self.toxiproxy.add_toxic(_proxy(node), name, kind, attributes, stream)
        return f"toxic {name} {kind} {attributes} on the path to node {node} (this machine)"

    def remove_toxic(self, path: ProxyPath, node: int, name: str) -> bool:
        return self.toxiproxy is not None and self.toxiproxy.remove_toxic(_proxy(node), name)

    def sweep_toxics(self) -> list[str]:
        return self.toxiproxy.clear() if self.toxiproxy else []

    def stop(self) -> list[str]:
        """Remove the redirect, then Toxiproxy (connections through it end with it)."""
        removed = sweep_redirects(self.name, self.shell)
        if self.toxiproxy and self.toxiproxy.process and self.toxiproxy.process.alive:
            self.toxiproxy.stop()
            removed.append(f"toxiproxy {self.toxiproxy.process.pid}")
        return removed

    def _clients_only(self, path: ProxyPath) -> None:
        if path != "clients" or self.toxiproxy is None:
            raise EnvironmentProblem("only the client path is proxied, and only when the run asked for it")


def sweep_redirects(name: str, shell: Shell = LOCAL) -> list[str]:
    return iptables.sweep([None], f"{name}:redirect", shell, table="nat")


def _proxy(node: int) -> str:
    return f"client-{node}"
