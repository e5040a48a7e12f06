"""Degraded networks through Toxiproxy: latency with jitter, a bandwidth cap, slow close,
connection resets, a blackhole (timeout), on the client path or the replication path.

The cluster must be started with the matching proxies (`cluster.proxy.clients` or
`.replication`); each toxic is added to the proxy of every target broker and removed on heal.
"""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import Field

from harness.faults.base import Env, FaultError, FaultSpec, Injected, fault
from harness.faults.targets import Target
from harness.limits import Millis

Path = Literal["clients", "replication"]
Stream = Literal["downstream", "upstream"]


class Toxic(FaultSpec):
    """Shared by every toxic: where it goes and in which direction."""

    target: Target = Target(pick="all")
    path: Path = "clients"
    stream: Stream = Field("downstream", description="downstream: broker to client; upstream: client to broker")

    requires: ClassVar[frozenset[str]] = frozenset({"toxiproxy"})
    toxic: ClassVar[str]  # Toxiproxy's name for the toxic type

    def attributes(self) -> dict:
        raise NotImplementedError

    def inject(self, env: Env) -> Injected:
        if env.toxiproxy is None or not getattr(env.cluster.spec.proxy, self.path):
            raise FaultError(f"{self.fault} on the {self.path} path needs the cluster started with proxy.{self.path}")
        ids = self.target.resolve(env)
        name = f"{self.fault}-{uuid.uuid4().hex[:8]}"
        proxies = [f"{'client' if self.path == 'clients' else 'replication'}-{i}" for i in ids]
        added = []
        for proxy in proxies:
            env.toxiproxy.add_toxic(proxy, name, self.toxic, self.attributes(), self.stream)
            added.append(proxy)

        def heal() -> str:
            left = [p for p in added if not env.toxiproxy.remove_toxic(p, name)]
            return f"removed {name} from {len(added) - len(left)} proxies" + (f"; not from {left}" if left else "")

        return Injected(f"{self.fault} {self.attributes()} on the {self.path} path of nodes {ids} ({self.stream})",
                        ids, [f"toxic {name} {self.toxic} {self.attributes()} on {p}" for p in proxies], heal)


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
