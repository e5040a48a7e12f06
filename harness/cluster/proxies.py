"""The proxies capability, shared by the backends: one Toxiproxy server on this machine with a
proxy per broker and proxied path (clients, replication), and the toxics faults add to them.

A backend mixes `ProxiedPaths` in and provides `spec`, `toxiproxy` (None when no path is proxied)
and `brokers` (nodes with `id` and `layout`).
"""

from __future__ import annotations

from pathlib import Path

from harness.cluster.backend import ProxyPath


def proxy_name(path: ProxyPath, node: int) -> str:
    return f"{'client' if path == 'clients' else 'replication'}-{node}"


class ProxiedPaths:
    def _start_proxies(self, log: Path) -> None:
        """Toxiproxy with one proxy per broker and proxied path (clients, replication)."""
        log.parent.mkdir(parents=True, exist_ok=True)
        self.toxiproxy.start(log)
        self.save_state()
        for node in self.brokers:
            layout = node.layout
            if self.spec.proxy.clients:
                self.toxiproxy.add_proxy(proxy_name("clients", node.id), layout.client_proxy,
                                         f"{layout.host}:{layout.client_port}")
            if self.spec.proxy.replication:
                self.toxiproxy.add_proxy(proxy_name("replication", node.id), layout.replication_proxy,
                                         f"{layout.host}:{layout.replication_port}")

    def proxied(self, path: ProxyPath) -> bool:
        return self.toxiproxy is not None and getattr(self.spec.proxy, path)

    def add_toxic(self, path: ProxyPath, node: int, name: str, kind: str, attributes: dict, stream: str) -> str:
        proxy = proxy_name(path, node)
        self.toxiproxy.add_toxic(proxy, name, kind, attributes, stream)
        return f"toxic {name} {kind} {attributes} on {proxy}"

    def remove_toxic(self, path: ProxyPath, node: int, name: str) -> bool:
        return self.toxiproxy.remove_toxic(proxy_name(path, node), name)

    def sweep_toxics(self) -> list[str]:
        return self.toxiproxy.clear() if self.toxiproxy else []
