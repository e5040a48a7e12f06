"""`cluster: {backend: ssh, ...}`: a Kafka cluster someone else runs, reached over SSH.

    cluster:
      backend: ssh
      name: staging                       # tags every rule the harness adds on the hosts
      bootstrap: kafka1:9092,kafka2:9092  # default: each host's address, port 9092
      ssh: {user: kafka, key_file: ~/.ssh/id_ed25519, sudo: true}   # known_hosts checked
      broker:
        systemd_unit: kafka.service       # or start / stop commands and pid_file or pid_command
        data_dirs: [/var/lib/kafka/data]
        log_file: /var/log/kafka/server.log
      hosts:
        - {address: 10.0.0.11, node_id: 1}
        - {address: 10.0.0.12, node_id: 2, host_key: "SHA256:..."}
      security: {protocol: ssl, ca_file: ca.pem, certificate_file: me.pem, key_file: me.key}
                                          # how clients log in (harness.cluster.client_security)

Commands are argument lists, never shell text: each is quoted word by word before it reaches
the remote shell. Secrets (`password`, `passphrase`) are redacted wherever the harness writes
the experiment; prefer an agent or a key without a passphrase.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.cluster.client_security import ClientSecurity
from harness.cluster.spec import NetworkMode, ProxySpec

CLUSTER_NAME = r"^[a-z][a-z0-9]{0,7}$"
Word = Annotated[str, Field(min_length=1, max_length=4096)]
AbsolutePath = Annotated[str, Field(pattern=r"^/[^\x00]*$", max_length=4096)]
Command = Annotated[list[Word], Field(min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SshAccess(_Strict):
    """How the harness logs in (every host, unless a host says otherwise)."""

    user: str = Field("root", pattern=r"^[a-z_][a-z0-9_.-]{0,31}$")
    port: int = Field(22, ge=1, le=65535)
    key_file: str | None = Field(None, description="private key; default: the SSH agent and ~/.ssh's keys")
    passphrase: str | None = Field(None, description="of the key file (redacted in everything written)")
    password: str | None = Field(None, description="password login (redacted in everything written)")
    known_hosts: str | None = Field(None, description="known_hosts file; default: ~/.ssh/known_hosts")
    check_host_keys: bool = Field(True, description="false trusts any host key: for labs only")
    sudo: bool = Field(False, description="run commands through `sudo -n` (the user is not root)")
    timeout_s: float = Field(10, gt=0, le=120, description="connecting and each command's answer")


class SshHost(_Strict):
    address: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:_-]+$")
    node_id: int | None = Field(None, ge=0, description="the broker's node.id; default: its place in the list, from 1")
    user: str | None = Field(None, pattern=r"^[a-z_][a-z0-9_.-]{0,31}$")
    port: int | None = Field(None, ge=1, le=65535)
    key_file: str | None = None
    host_key: str | None = Field(None, pattern=r"^SHA256:[A-Za-z0-9+/]{43}=?$",
                                 description="the host key's SHA256 fingerprint (as ssh-keygen -l prints it), "
                                             "checked instead of known_hosts")
    kafka_port: int = Field(9092, ge=1, le=65535, description="the broker's client port (default bootstrap)")
    broker: "BrokerRuntime | None" = Field(None, description="how the broker runs on this host, when it differs "
                                                           "from the cluster's `broker`")
    disks: "DiskAccess | None" = Field(None, description="storage faults on this host, when its fill_dir differs "
                                                         "from the cluster's `disks`")


class BrokerRuntime(_Strict):
    """How the broker runs on each host, and where it keeps its files."""

    systemd_unit: str | None = Field(None, pattern=r"^[A-Za-z0-9@._:-]+$")
    start: Command | None = Field(None, description="starts the broker and returns (it must detach)")
    stop: Command | None = Field(None, description="graceful stop; default: SIGTERM to its pid")
    pid_file: AbsolutePath | None = None
    pid_command: Command | None = Field(None, description="prints the broker's pid (e.g. [pgrep, -f, kafka.Kafka])")
    data_dirs: list[AbsolutePath] = Field(min_length=1, max_length=16, description="the broker's log.dirs")
    metadata_dir: AbsolutePath | None = Field(None, description="metadata.log.dir; default: the first data dir")
    log_file: AbsolutePath = Field(description="the broker's server.log, fetched into the run directory")

    @model_validator(mode="after")
    def _one_way_to_run(self) -> "BrokerRuntime":
        if (self.systemd_unit is None) == (self.start is None):
            raise ValueError("give either systemd_unit, or start (with pid_file or pid_command)")
        if self.start is not None and (self.pid_file is None) == (self.pid_command is None):
            raise ValueError("with start commands, give exactly one of pid_file and pid_command")
        if self.systemd_unit is not None and (self.stop or self.pid_file or self.pid_command):
            raise ValueError("systemd_unit runs the broker: stop, pid_file and pid_command are not used")
        return self


class DiskAccess(_Strict):
    """Storage faults are allowed: the log directory may turn read-only (a bind mount in the
    broker's mount namespace, needs root), and `fill_dir`, on the data directories' own
    filesystem, may be filled to the last byte. Give this only for disks that may fill up."""

    fill_dir: AbsolutePath


class SshClusterConfig(_Strict):
    backend: Literal["ssh"]
    name: str = Field("hosts", pattern=CLUSTER_NAME, description="tags the rules the harness adds on the hosts")
    hosts: list[SshHost] = Field(min_length=1, max_length=50)
    bootstrap: str | None = Field(None, pattern=r"^[A-Za-z0-9.:_\[\]-]+(,[A-Za-z0-9.:_\[\]-]+)*$",
                                  description="default: every host's address:kafka_port")
    ssh: SshAccess = Field(default_factory=SshAccess)
    broker: BrokerRuntime | None = Field(None, description="how the broker runs on every host (a host may have its own)")
    disks: DiskAccess | None = Field(None, description="set to allow storage faults on these hosts")
    clients: list[str] | None = Field(None, description="addresses the hosts see the workers come from; default: "
                                                        "this machine's address towards each host")
    kafka_version: str | None = Field(None, description="informational: the version the hosts run")
    proxy: ProxySpec = Field(default_factory=ProxySpec, description="set on its own when a fault needs it")
    security: ClientSecurity | None = Field(None, description="how the harness and its workers log in to the "
                                                             "brokers; default: plaintext")

    @model_validator(mode="after")
    def _distinct(self) -> "SshClusterConfig":
        ids = self.node_ids
        if len(set(ids)) != len(ids):
            raise ValueError(f"node ids repeat: {ids}")
        addresses = [h.address for h in self.hosts]
        if len(set(addresses)) != len(addresses):
            raise ValueError(f"host addresses repeat: {addresses}")
        if self.proxy.replication:
            raise ValueError("the replication path cannot be proxied without changing the brokers' listeners")
        if self.broker is None and any(h.broker is None for h in self.hosts):
            raise ValueError("say how the broker runs: `broker`, or a `broker` on every host")
        return self

    # ---- what the shared experiment checks ask of any cluster config ----

    @property
    def node_ids(self) -> list[int]:
        return [h.node_id if h.node_id is not None else i for i, h in enumerate(self.hosts, start=1)]

    @property
    def nodes(self) -> int:
        return len(self.hosts)

    controllers: ClassVar[int] = 0
    broker_config: ClassVar[dict] = {}
    disk_mb: ClassVar[None] = None
    network: ClassVar[NetworkMode] = NetworkMode.AUTO

    def host(self, node_id: int) -> SshHost:
        return self.hosts[self.node_ids.index(node_id)]

    def runtime(self, node_id: int) -> BrokerRuntime:
        return self.host(node_id).broker or self.broker

    def disks_of(self, node_id: int) -> "DiskAccess | None":
        return self.host(node_id).disks or self.disks

    @property
    def allows_disks(self) -> bool:
        """Storage faults need every host's consent: a fault may pick any node."""
        return all(self.disks_of(n) is not None for n in self.node_ids)

    @property
    def bootstrap_servers(self) -> str:
        return self.bootstrap or ",".join(f"{h.address}:{h.kafka_port}" for h in self.hosts)

    def serves(self, wanted: "SshClusterConfig") -> bool:
        return self.model_dump(exclude={"proxy"}) == wanted.model_dump(exclude={"proxy"}) and \
            (self.proxy.clients or not wanted.proxy.clients)


LAB = ipaddress.ip_network("198.18.0.0/15")  # reserved for network testing (RFC 2544)


def outside_lab(config: SshClusterConfig) -> list[str]:
    """The hosts whose addresses are not all in the lab range (a name that does not resolve here
    counts as outside)."""
    outside = []
    for host in config.hosts:
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(host.address, None)}
        except OSError:
            addresses = set()
        if not addresses or any(ipaddress.ip_address(a.split("%")[0]) not in LAB for a in addresses):
            outside.append(host.address)
    return outside


SshHost.model_rebuild()
