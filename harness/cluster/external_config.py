"""`cluster: {backend: external, bootstrap: ...}`: a Kafka cluster the harness only reaches as a
client. Nothing runs on its hosts: faults are the client's own (workers killed, paused,
stopped) and the path between the workers and the brokers on this machine (iptables rules
towards each broker's advertised address, Toxiproxy behind a local redirect), so the cluster's
advertised listeners stay as they are.

    cluster:
      backend: external
      bootstrap: kafka1.example:9092,kafka2.example:9092
      node_ids: [1, 2, 3]      # its brokers' node.id values, checked when a run starts
      security: {protocol: sasl_ssl, username: chaos, password_env: KAFKA_CHAOS_PASSWORD, ca_file: ca.pem}
                               # how to log in (harness.cluster.client_security); default plaintext
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.cluster.client_security import ClientSecurity
from harness.cluster.spec import NetworkMode, ProxySpec
from harness.cluster.ssh_config import CLUSTER_NAME


class ExternalClusterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["external"]
    name: str = Field("external", pattern=CLUSTER_NAME, description="tags the rules the harness adds here")
    bootstrap: str = Field(pattern=r"^[A-Za-z0-9.:_\[\]-]+(,[A-Za-z0-9.:_\[\]-]+)*$", max_length=4096)
    node_ids: list[int] = Field([1, 2, 3], min_length=1, max_length=50,
                                description="the brokers' node.id values (checked when a run starts)")
    kafka_version: str | None = Field(None, description="informational: the version the cluster runs")
    proxy: ProxySpec = Field(default_factory=ProxySpec, description="set on its own when a fault needs it")
    security: ClientSecurity | None = Field(None, description="how the harness and its workers log in; "
                                                             "default: plaintext")

    @model_validator(mode="after")
    def _valid(self) -> "ExternalClusterConfig":
        if len(set(self.node_ids)) != len(self.node_ids):
            raise ValueError(f"node ids repeat: {self.node_ids}")
        if self.proxy.replication:
            raise ValueError("the replication path is inside the cluster: it cannot be proxied from here")
        return self

    @property
    def nodes(self) -> int:
        return len(self.node_ids)

    controllers: ClassVar[int] = 0
    broker_config: ClassVar[dict] = {}
    disk_mb: ClassVar[None] = None
    network: ClassVar[NetworkMode] = NetworkMode.AUTO

    @property
    def bootstrap_servers(self) -> str:
        return self.bootstrap

    def serves(self, wanted: "ExternalClusterConfig") -> bool:
        return self.model_dump(exclude={"proxy"}) == wanted.model_dump(exclude={"proxy"}) and \
            (self.proxy.clients or not wanted.proxy.clients)
