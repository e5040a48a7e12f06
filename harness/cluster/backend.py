"""What a cluster backend is, and the capabilities faults can ask of it.

A backend is its lifecycle (provision, ready, bootstrap servers, broker logs, destroy; the sweep
after a crash lives with its state) plus the capabilities it implements. Faults and targets
depend on capabilities, never on a concrete backend: a fault declares the ones it needs, an
experiment is refused at validation when its backend lacks one, and at run time a fault reaches
a capability through `Env`, typed as its protocol.

    PROCESSES       kill, stop, pause, resume and start a node
    TOPOLOGY        leaders and ISR as the cluster really has them
    QUORUM          the active KRaft controller (read where the controllers keep it)
    NETWORK         drop packets between a node and a peer (another node, or the clients)
    CLIENT_NETWORK  drop packets between a node and the clients only
    PROXIES         Toxiproxy on the client and the replication path
    CLIENT_PROXIES  Toxiproxy on the client path only
    DISKS           fill a node's disk, make its log directory read-only
    SECURITY        users, credentials and ACLs of a secured cluster (SASL_SSL or mutual TLS)
    POWER           cut a node's power: every write it had not fsynced is lost
    CLOCKS          shift one node's wall clock
    PROTOCOL        delay, drop or fail chosen Kafka API responses on the client path

A backend that reaches the nodes offers NETWORK and CLIENT_NETWORK (PROXIES and CLIENT_PROXIES)
together; one that only sees the cluster from the clients' side (`external`) offers the client
ones alone, so a fault between nodes is refused at validation, naming what is missing.
"""

from __future__ import annotations

from enum import StrEnum
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from harness.process import ProcessState

if TYPE_CHECKING:
    from harness.cluster.admin import KafkaAdmin, PartitionState
    from harness.cluster.security import Acl, Credential


class Capability(StrEnum):
    PROCESSES = "processes"
    TOPOLOGY = "topology"
    QUORUM = "quorum"
    NETWORK = "network"
    CLIENT_NETWORK = "client-network"
    PROXIES = "proxies"
    CLIENT_PROXIES = "client-proxies"
    DISKS = "disks"
    POWER = "power"
    CLOCKS = "clocks"
    PROTOCOL = "protocol"
    SECURITY = "security"


def describe(capabilities) -> str:
    return ", ".join(sorted(capabilities)) or "none"


CLIENTS = "clients"  # a network peer: everything outside the cluster (workers, the harness)
Peer = int | Literal["clients"]
ProxyPath = Literal["clients", "replication"]


class Way(StrEnum):
    IN = "in"  # packets the node receives from the peer
    OUT = "out"  # packets the node sends to the peer


@runtime_checkable
class Node(Protocol):
    """One Kafka process as a fault sees it."""

    @property
    def id(self) -> int: ...
    @property
    def status(self) -> ProcessState: ...
    @property
    def pid(self) -> int | None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def kill(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def restart(self, graceful: bool = True) -> None: ...


class Backend(Protocol):
    """The lifecycle every backend has."""

    @property
    def name(self) -> str: ...
    @property
    def capabilities(self) -> frozenset[Capability]: ...
    @property
    def node_ids(self) -> list[int]: ...
    @property
    def bootstrap_servers(self) -> str: ...
    @property
    def client_bootstrap_servers(self) -> str: ...
    @property
    def kafka_version(self) -> str: ...
    @property
    def cluster_id(self) -> str: ...
    @property
    def harness_client(self) -> dict[str, str]:
        """librdkafka properties the harness's own clients add: its super user's login on a secured
        cluster, nothing on a plaintext one."""
    @property
    def access(self) -> "Security | None":
        """A secured cluster's users and ACLs (None on a plaintext cluster)."""
    def admin(self) -> "KafkaAdmin": ...
    def start(self) -> "Backend": ...
    def wait_ready(self, timeout: float = 120) -> None: ...
    def wait_in_sync(self, topics: list[str], timeout: float = 120) -> None: ...
    def log_marks(self) -> dict[int, int]:
        """Where each node's broker log ends now, so a run later copies only its own part."""
    def copy_logs(self, marks: dict[int, int], into: Callable[[int], Path]) -> None:
        """Each node's broker log from its mark on into the file `into(node)` (copied from where it is)."""
    def segment_dirs(self, partitions: list[tuple[str, int]], scratch: Path) -> dict[int, Path]:
        """Each node's data directory as a local folder holding at least these partitions' segment
        files (fetched into `scratch` when they live elsewhere)."""
    def destroy(self) -> None: ...


class Processes(Protocol):
    def node(self, node_id: int) -> Node: ...


class Topology(Protocol):
    def partition(self, topic: str, partition: int) -> "PartitionState": ...
    def partition_states(self, topics: list[str]) -> list["PartitionState"]: ...
    def leader(self, topic: str, partition: int) -> int | None: ...
    def isr(self, topic: str, partition: int) -> tuple[int, ...]: ...
    def active_controller(self) -> int | None: ...
    def quorum_epoch(self) -> int | None: ...
    def wait_in_sync(self, topics: list[str], timeout: float = 120) -> None: ...


class Network(Protocol):
    def drop(self, node: int, peer: Peer, way: Way, tag: str, share: float = 1.0) -> str:
        """Drop `share` of the packets between `node` and `peer` going `way`; the rule as text."""
    def undrop(self, tag: str) -> int:
        """Remove every rule tagged `tag`; how many there were."""
    def sweep_rules(self) -> list[str]:
        """Remove every rule any fault left; what was removed."""


class Proxies(Protocol):
    def proxied(self, path: ProxyPath) -> bool: ...
    def add_toxic(self, path: ProxyPath, node: int, name: str, kind: str, attributes: dict, stream: str) -> str: ...
    def remove_toxic(self, path: ProxyPath, node: int, name: str) -> bool: ...
    def sweep_toxics(self) -> list[str]: ...


class Disks(Protocol):
    def has_own_disk(self, node: int) -> bool: ...
    def fill_disk(self, node: int) -> str: ...
    def empty_disk(self, node: int) -> bool: ...
    def make_read_only(self, node: int) -> str: ...
    def make_writable(self, node: int) -> bool: ...
    def sweep_disks(self) -> list[str]: ...


class Power(Protocol):
    def has_lazy_disk(self, node: int) -> bool:
        """The node's data directory keeps unsynced writes apart (the cluster was provisioned for it)."""
    def lose_power(self, node: int) -> str:
        """SIGKILL the node and drop every write it had not fsynced; it stays down. What was done."""
    def sweep_power(self) -> list[str]:
        """Give every node whose power was cut mid-fault its disk back (it is started by the process sweep)."""


class Clocks(Protocol):
    def has_fake_clock(self, node: int) -> bool: ...
    def skew_clock(self, node: int, offset_s: float) -> str:
        """Shift the node's wall clock by `offset_s`; what was done."""
    def reset_clock(self, node: int) -> bool:
        """The node's wall clock back to the real time; True if it was off."""
    def sweep_clocks(self) -> list[str]: ...


class ProtocolFaults(Protocol):
    def protocol_proxied(self) -> bool: ...
    def add_protocol_rule(self, node: int, rule: dict) -> str:
        """Apply `rule` (harness.kafkaproxy.rules.Rule as JSON) to the node's client path; its text."""
    def remove_protocol_rules(self, tag: str) -> int: ...
    def protocol_stats(self) -> dict: ...
    def sweep_protocol_rules(self) -> list[str]: ...
class Security(Protocol):
    """A secured cluster's users, credentials and ACLs (harness.cluster.access.ClusterAccess)."""

    def credentials(self, users: list[str]) -> dict[str, "Credential"]:
        """A new credential for each user, in force on every running broker on return."""
    def credential(self, user: str) -> "Credential": ...
    def client(self, credential: "Credential") -> dict[str, str]:
        """librdkafka properties of a client holding `credential`."""
    def remove_users(self, users: list[str]) -> None: ...
    def grant(self, acls: list["Acl"]) -> None: ...
    def remove(self, acls: list["Acl"]) -> int: ...
    def acls_of(self, user: str) -> list["Acl"]: ...
    def revoke(self, acls: list["Acl"], tag: str) -> int:
        """Remove `acls` until `restore(tag)` (written down first, for the sweep); how many there were."""
    def restore(self, tag: str) -> list["Acl"]: ...
    def sweep_acls(self) -> list[str]:
        """Restore every revocation a heal did not; what was restored."""
