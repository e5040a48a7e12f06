"""What cluster to run: the typed, validated description shared by the CLI and experiment files."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from harness.cluster.containers.spec import DockerSpec
from harness.cluster.security import SecuritySpec

ConfigValue = str | int | float | bool
DEFAULT_DISK_MB = 256  # a node's own disk when a full-disk fault needs one: room for a short experiment


class NetworkMode(StrEnum):
    AUTO = "auto"  # namespaces when we hold CAP_NET_ADMIN, else loopback
    NAMESPACES = "namespaces"  # one network namespace per node on a lab bridge
    LOOPBACK = "loopback"  # every node on 127.0.0.1 with its own ports; no partitions


class ProxySpec(BaseModel):
    """Which paths go through Toxiproxy, so degraded-network faults can act on them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clients: bool = Field(False, description="clients reach brokers through a proxy per broker")
    replication: bool = Field(False, description="followers fetch from leaders through proxies")

    kafka: bool = Field(False, description="clients reach brokers through a proxy that understands Kafka's "
                                           "protocol (protocol faults act on it)")

    @property
    def enabled(self) -> bool:
        """Whether Toxiproxy runs (the Kafka-protocol proxy is a process of its own)."""
        return self.clients or self.replication


class NodeHooks(BaseModel):
    """What each node runs on or with so that a fault can reach inside it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lazyfs: bool = Field(False, description="each node's data directory on a FUSE layer that keeps unsynced "
                                            "writes apart, so power-loss can drop them")
    faketime: bool = Field(False, description="each node's JVM with libfaketime preloaded, so clock-skew can "
                                              "move its wall clock")


class ClusterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("lab", pattern=r"^[a-z][a-z0-9]{0,7}$",
                      description="names the cluster's processes, namespaces and bridge")
    nodes: int = Field(3, ge=1, le=9, description="brokers (combined broker+controller unless controllers > 0)")
    controllers: int = Field(0, ge=0, le=5, description="dedicated KRaft controllers; 0 = combined nodes")
    kafka_version: str | None = Field(None, description="e.g. 4.4.0; default: KAFKA_HOME's or the newest known")
    network: NetworkMode = NetworkMode.AUTO
    subnet: int = Field(0, ge=0, le=255, description="namespace mode: nodes live in 198.18.<subnet>.0/24")
    port_base: int = Field(19000, ge=1024, le=65000, description="loopback mode: first port")
    heap_mb: int = Field(384, ge=128, le=8192, description="JVM heap per node")
    broker_config: dict[str, ConfigValue] = Field(
        default_factory=dict, description="server.properties overrides applied to every node")
    proxy: ProxySpec = Field(default_factory=ProxySpec)
    disk_mb: int | None = Field(None, ge=64, le=65536,
                                description="each node's data directory on its own disk (a tmpfs) of this size, "
                                            "so the full-disk fault can fill it; default: the machine's disk")
    hooks: NodeHooks = Field(default_factory=NodeHooks)
    security: SecuritySpec = Field(default_factory=SecuritySpec)
    docker: DockerSpec | None = Field(None, description="set: the nodes are containers on a Docker engine (the "
                                                        "docker backend), with this image or taking over a cluster")

    @property
    def backend(self) -> str:
        """The backend that runs this spec: docker when it has docker settings, else local."""
        return "docker" if self.docker else "local"

    @property
    def brokers(self) -> int:
        return self.nodes

    def serves(self, wanted: "ClusterSpec") -> bool:
        """Whether a cluster started from this spec can run what `wanted` asks: the same cluster,
        with at least the proxies it wants (so a cluster is reused, not rebuilt, when an experiment
        needs no more than it has). Disks must match: a small one would fill under a long run. The
        Kafka-protocol proxy must match too: with it, clients take its path instead of Toxiproxy's."""
        same = self.model_dump(exclude={"proxy"}) == wanted.model_dump(exclude={"proxy"})
        proxies = all(getattr(self.proxy, path) or not getattr(wanted.proxy, path) for path in ("clients", "replication"))
        return same and proxies and self.proxy.kafka == wanted.proxy.kafka

    @property
    def voters(self) -> int:
        return self.controllers or self.nodes
