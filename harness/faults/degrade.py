"""Degraded networks through Toxiproxy: latency with jitter, a bandwidth cap, slow close,
connection resets, a blackhole (timeout), on the client path or the replication path.

The cluster is started with the matching proxies (the fault's provisions); each toxic is added to
the proxy of every target broker and removed on heal, and the sweep removes any toxic left.
"""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import Field

from harness.cluster.backend import Backend, Capability, ProxyPath
from harness.faults.base import Env, FaultError, FaultSpec, Injected, Provisions, fault, sweep
from harness.faults.targets import Target
from harness.limits import Millis

Stream = Literal["downstream", "upstream"]


class Toxic(FaultSpec):
    """Shared by every toxic: where it goes and in which direction."""

    needs: ClassVar = frozenset({Capability.PROXIES})
    target: Target = Target(pick="all")
    path: ProxyPath = "clients"
    stream: Stream = Field("downstream", description="downstream: broker to client; upstream: client to broker")

    toxic: ClassVar[str]  # Toxiproxy's name for the toxic type

    def attributes(self) -> dict:
        raise NotImplementedError

    def capabilities(self):
        """On the client path, toxics need only the client side's proxies."""
        mine = {Capability.CLIENT_PROXIES} if self.path == "clients" else {Capability.PROXIES}
        return super().capabilities() - {Capability.PROXIES} | mine

    def provisions(self) -> Provisions:
        return Provisions(proxies=frozenset({self.path}))

    def inject(self, env: Env) -> Injected:
        proxies = env.proxies_on(self.path)
        if not proxies.proxied(self.path):
            raise FaultError(f"{self.fault} on the {self.path} path needs the cluster started with proxy.{self.path}")
        ids = self.target.resolve(env)
        name = f"{self.fault}-{uuid.uuid4().hex[:8]}"
        applied = []
        for node in ids:
            applied.append(proxies.add_toxic(self.path, node, name, self.toxic, self.attributes(), self.stream))

        def heal() -> str:
            left = [node for node in ids[:len(applied)] if not proxies.remove_toxic(self.path, node, name)]
            return f"removed {name} from {len(applied) - len(left)} proxies" + (f"; not from {left}" if left else "")

        return Injected(f"{self.fault} {self.attributes()} on the {self.path} path of nodes {ids} ({self.stream})",
                        ids, applied, heal)


@sweep(Capability.CLIENT_PROXIES)  # every backend with PROXIES offers CLIENT_PROXIES too
def toxics(cluster: Backend) -> list[str]:
    return cluster.sweep_toxics()


@fault
class Latency(Toxic):
    fault: Literal["latency"] = "latency"
    toxic: ClassVar[str] = "latency"
    ms: Millis
    jitter_ms: Millis = 0

    def attributes(self) -> dict:
        return {"latency": self.ms, "jitter": self.jitter_ms}


@fault
class Bandwidth(Toxic):
    fault: Literal["bandwidth"] = "bandwidth"
    toxic: ClassVar[str] = "bandwidth"
    kb_per_s: int = Field(ge=1, le=2**31 - 1)

    def attributes(self) -> dict:
        return {"rate": self.kb_per_s}


@fault
class SlowClose(Toxic):
    fault: Literal["slow-close"] = "slow-close"
    toxic: ClassVar[str] = "slow_close"
    delay_ms: Millis

    def attributes(self) -> dict:
        return {"delay": self.delay_ms}


@fault
class ResetPeer(Toxic):
    """Connections are reset (RST) after `after_ms` of data."""

    fault: Literal["reset-peer"] = "reset-peer"
    toxic: ClassVar[str] = "reset_peer"
    after_ms: Millis = 0

    def attributes(self) -> dict:
        return {"timeout": self.after_ms}


@fault
class Blackhole(Toxic):
    """Data stops flowing; the connection closes after `close_after_ms` (0: never)."""

    fault: Literal["blackhole"] = "blackhole"
    toxic: ClassVar[str] = "timeout"
    close_after_ms: Millis = 0

    def attributes(self) -> dict:
        return {"timeout": self.close_after_ms}
