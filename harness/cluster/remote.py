"""What every backend of a cluster it did not start shares: the topology as Kafka itself tells
it (each broker asked directly for its metadata, the highest leader epoch wins), and the record
a run leaves of the cluster it used (`RemoteState`), so `kafka-chaos cluster heal` finds what a
killed harness left and the observer process can reach the same cluster."""

from __future__ import annotations

import json
import ssl
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException
from pydantic import BaseModel
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from harness import paths
from harness.cluster import metadata
from harness.cluster.admin import KafkaAdmin, PartitionState
from harness.errors import EnvironmentProblem
from harness.files import write_text

if TYPE_CHECKING:
    from harness.cluster.backend import ProxyPath
    from harness.cluster.client_security import ClientLogin, ClientSecurity

METADATA_TIMEOUT_S = 1.5


class NotReady(Exception):
    """A condition on the cluster does not hold yet (retried until the deadline)."""


class LoginRefused(EnvironmentProblem):
    """A broker refused the harness's login: waiting does not help."""


def login_of(security: "ClientSecurity | None") -> "ClientLogin | None":
    """How the raw Metadata probes log in to a cluster with this `security:` (None: plaintext)."""
    return security.login() if security else None


def client_of(security: "ClientSecurity | None") -> dict[str, str]:
    """librdkafka properties of every client of a cluster with this `security:` (the password read now)."""
    return security.librdkafka() if security else {}


def check_login(topology: "MetadataTopology | Unresolved") -> None:
    """A refused login is one line now, not a wait for a readiness that never comes (a cluster
    that does not answer yet is left to the start's wait)."""
    try:
        topology.brokers(refresh=True)
    except LoginRefused:
        raise
    except EnvironmentProblem:
        pass


class MetadataTopology:
    """Leaders and ISR of a cluster reached only through Kafka: every broker it names is asked
    directly (an isolated broker's stale claim to lead is outvoted by a higher epoch)."""

    def __init__(self, bootstrap: str, name: str, login: "ClientLogin | None" = None):
        self.bootstrap, self.name, self.login = bootstrap, name, login  # login: on a secured cluster
        self._brokers: dict[int, str] = {}
        self._lock = threading.Lock()
        self.cluster_id: str | None = None

    def brokers(self, refresh: bool = False) -> dict[int, str]:
        """Broker id -> advertised host:port, as the brokers last told (brokers that were down
        keep the address they had)."""
        with self._lock:
            if refresh or not self._brokers:
                for address in self.bootstrap.split(","):
                    try:
                        view = metadata.fetch(address, [], timeout=METADATA_TIMEOUT_S * 2, login=self.login)
                    except metadata.AuthenticationFailed as exc:
                        raise LoginRefused(f"cluster {self.name}: authentication failed at {address} as "
                                           f"{self.login.who}: {exc}") from None
                    except ssl.SSLCertVerificationError as exc:
                        raise LoginRefused(f"cluster {self.name}: the certificate of {address} is not trusted "
                                           f"(security.ca_file): {exc.verify_message}") from None
                    except ssl.SSLError as exc:
                        if "ALERT" in (exc.reason or ""):  # the broker said no (e.g. to our certificate)
                            raise LoginRefused(f"cluster {self.name}: authentication failed at {address} as "
                                               f"{self.login.who}: the broker refused TLS ({exc.reason})") from None
                        continue
                    except (OSError, ValueError):
                        continue
                    self._brokers.update(view.brokers)
                    self.cluster_id = view.cluster_id or self.cluster_id
                    break
                else:
                    if not self._brokers:
                        raise EnvironmentProblem(f"cluster {self.name}: no bootstrap server answers ({self.bootstrap})")
            return dict(self._brokers)

    def partition_states(self, topics: list[str]) -> list[PartitionState]:
        views = []
        for address in self.brokers().values():
            try:
                views.append(metadata.fetch(address, topics, timeout=METADATA_TIMEOUT_S, login=self.login))
            except (OSError, ValueError):
                continue  # unreachable (cut off, paused, down): the others answer
        wanted = set(topics)
        keys = sorted({key for view in views for key in view.partitions if key[0] in wanted})
        missing = wanted - {topic for topic, _ in keys}
        if missing:
            raise NotReady(f"no reachable broker knows topic {', '.join(sorted(missing))}")
        return [metadata.freshest([v.partitions[key] for v in views if key in v.partitions]) for key in keys]

    def partition(self, topic: str, partition: int) -> PartitionState:
        found = [p for p in self.partition_states([topic]) if p.partition == partition]
        if not found:
            raise NotReady(f"{topic} has no partition {partition}")
        return found[0]

    def leader(self, topic: str, partition: int) -> int | None:
        return self.partition(topic, partition).leader

    def isr(self, topic: str, partition: int) -> tuple[int, ...]:
        return self.partition(topic, partition).isr

    def wait_in_sync(self, topics: list[str], timeout: float = 120) -> None:
        def check() -> None:
            lagging = [f"{p.topic}-{p.partition}" for p in self.partition_states(topics) if not p.fully_replicated]
            if lagging:
                raise NotReady(f"not fully in sync: {', '.join(lagging)}")

        wait(self.name, "in sync", check, timeout)


class Unresolved:
    """A dry run's topology: what the cluster would say is known only at run time."""

    cluster_id = None

    def __init__(self, bootstrap: str, name: str):
        self.bootstrap, self.name = bootstrap, name

    def brokers(self, refresh: bool = False) -> dict[int, str]:
        return {}

    def __getattr__(self, what: str):
        def unknown(*args, **kwargs):
            raise EnvironmentProblem(f"{what} is asked of the cluster at run time")
        return unknown


def wait(name: str, what: str, check, timeout: float) -> None:
    retrying = Retrying(stop=stop_after_delay(timeout), wait=wait_exponential(multiplier=0.05, max=1), reraise=True,
                        retry=retry_if_exception_type((NotReady, KafkaException)))
    try:
        retrying(check)
    except (NotReady, KafkaException) as exc:
        raise EnvironmentProblem(f"cluster {name} not {what} after {timeout:.0f}s: {exc}") from None


# ---- the record of a cluster in use -----------------------------------------------------------


class Owner(BaseModel):
    pid: int
    create_time: float


class RemoteState(BaseModel):
    """A cluster the harness uses but did not start: its config (secrets redacted), the harness
    using it, and the Toxiproxy it started on this machine for the client path."""

    backend: str
    config: dict
    owner: Owner | None = None
    toxiproxy: Owner | None = None
    toxiproxy_port: int | None = None


def state_file(name: str) -> Path:
    return paths.state_dir() / "remote" / f"{name}.json"


def save_state(name: str, state: RemoteState) -> None:
    path = state_file(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, state.model_dump_json(indent=2))


def read_state(name: str) -> RemoteState | None:
    try:
        return RemoteState.model_validate(json.loads(state_file(name).read_text()))
    except (FileNotFoundError, ValueError):
        return None


def forget(name: str) -> None:
    state_file(name).unlink(missing_ok=True)


def known() -> list[str]:
    folder = paths.state_dir() / "remote"
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


class AttachedCluster:
    """What the ssh and external backends share: a cluster the harness reaches through its
    bootstrap servers, whose topology the brokers tell (`topology`), and whose client path runs
    through Toxiproxy on this machine (`client_path`). Subclasses set `config`, `topology`,
    `client_path` and `_admin` (None) in their constructor."""

    backend: str
    # The harness logs in as the config's one principal (if any); it manages no users or ACLs here.
    access = None

    # ---- what it is -----------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def node_ids(self) -> list[int]:
        return sorted(self.config.node_ids)

    @property
    def bootstrap_servers(self) -> str:
        return self.config.bootstrap_servers

    @property
    def client_bootstrap_servers(self) -> str:
        return self.config.bootstrap_servers  # the client path's redirect is invisible to clients

    @property
    def kafka_version(self) -> str:
        return self.config.kafka_version or "unknown"

    @property
    def cluster_id(self) -> str:
        return self.topology.cluster_id or "unknown"

    @property
    def harness_client(self) -> dict[str, str]:
        """The login of the harness's clients and of every worker (nothing on a plaintext cluster)."""
        return client_of(self.config.security)

    def admin(self) -> KafkaAdmin:
        if self._admin is None:
            self._admin = KafkaAdmin(self.bootstrap_servers, client=self.harness_client)
        return self._admin

    def wait_ready(self, timeout: float = 120) -> None:
        """Every node the config lists registered as a broker under its node id."""
        expected = set(self.node_ids)

        def check() -> None:
            seen = self.admin().broker_ids()
            if missing := expected - seen:
                raise NotReady(f"brokers {sorted(missing)} not registered (registered: {sorted(seen)})")

        wait(self.name, "ready", check, timeout)

    def wait_in_sync(self, topics: list[str], timeout: float = 120) -> None:
        self.topology.wait_in_sync(topics, timeout)

    # ---- topology ---------------------------------------------------------------------------

    def partition_states(self, topics: list[str]) -> list[PartitionState]:
        return self.topology.partition_states(topics)

    def partition(self, topic: str, partition: int) -> PartitionState:
        return self.topology.partition(topic, partition)

    def leader(self, topic: str, partition: int) -> int | None:
        return self.topology.leader(topic, partition)

    def isr(self, topic: str, partition: int) -> tuple[int, ...]:
        return self.topology.isr(topic, partition)

    # ---- the client path through Toxiproxy on this machine -----------------------------------

    def proxied(self, path: ProxyPath) -> bool:
        return path == "clients" and self.client_path.toxiproxy is not None

    def add_toxic(self, path: ProxyPath, node: int, name: str, kind: str, attributes: dict, stream: str) -> str:
        return self.client_path.add_toxic(path, node, name, kind, attributes, stream)

    def remove_toxic(self, path: ProxyPath, node: int, name: str) -> bool:
        return self.client_path.remove_toxic(path, node, name)

    def sweep_toxics(self) -> list[str]:
        return self.client_path.sweep_toxics()
