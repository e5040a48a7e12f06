"""A cluster a compose file started, taken over by the docker backend (`cluster.docker.attach`:
the compose project's name, or a container label key=value).

Its nodes are the matching containers that set KAFKA_NODE_ID, read as apache/kafka reads its
configuration: KAFKA_PROCESS_ROLES, KAFKA_ADVERTISED_LISTENERS (the listener this machine can
reach: on localhost through a published port, or on the container's own address),
KAFKA_LOG_DIRS and CLUSTER_ID. The harness acts on those containers (processes, topology, and
network rules in their namespaces) and, when done, leaves the project as it found it: rules
removed, paused nodes resumed, nodes that ran started again; nothing is ever removed. Proxies and
disks need a cluster started for them, so they are not offered here.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness.cluster.backend import Capability
from harness.cluster.containers import engine
from harness.cluster.containers import state as store
from harness.cluster.containers.cluster import ContainerNode, DockerCluster
from harness.cluster.containers.engine import client
from harness.cluster.layout import NodeLayout, Role
from harness.cluster.spec import ClusterSpec
from harness.errors import UsageError
from harness.process import ProcessRef, ProcessState

DEFAULT_LOG_DIR = "/tmp/kraft-combined-logs"  # apache/kafka's server.properties
LOOPBACK = ("localhost", "127.0.0.1")
VERSION = re.compile(r"(\d+\.\d+\.\d+)")


@dataclass(frozen=True)
class Found:
    """One Kafka container of the project, as its environment describes it."""

    container: str
    node: int
    roles: tuple[Role, ...]
    host: str  # where this machine reaches its broker listener (or the container's address)
    port: int
    ip: str  # on its network
    gateway: str  # the host's address on that network: where clients' packets come from
    log_dir: str
    metadata_dir: str
    cluster_id: str
    image: str
    running: bool


def listeners(text: str) -> list[tuple[str, str, int]]:
    """(name, host, port) of each entry of a listeners setting (`NAME://host:port,...`)."""
    found = []
    for entry in filter(None, (e.strip() for e in text.split(","))):
        match = re.fullmatch(r"([A-Za-z0-9_]+)://\[?([^\]]*?)\]?:(\d+)", entry)
        if match:
            found.append((match.group(1), match.group(2), int(match.group(3))))
    return found


def reachable(advertised: str, ip: str) -> tuple[str, int] | None:
    """The advertised listener this machine can use: one on localhost (a published port), else
    one on the container's own address."""
    entries = listeners(advertised)
    for wanted in (LOOPBACK, (ip,)):
        for _, host, port in entries:
            if host in wanted:
                return ("127.0.0.1" if host == "localhost" else host), port
    return None


def describe(info: dict) -> Found | None:
    """A container's inspect output as a Kafka node; None when it is not one (no KAFKA_NODE_ID)."""
    env = dict(entry.split("=", 1) for entry in info["Config"].get("Env") or [] if "=" in entry)
    if "KAFKA_NODE_ID" not in env:
        return None
    name = info["Name"].lstrip("/")
    roles = tuple(Role(r.strip()) for r in env.get("KAFKA_PROCESS_ROLES", "broker,controller").split(",") if r.strip())
    networks = info["NetworkSettings"].get("Networks") or {}
    first = networks[sorted(networks)[0]] if networks else {}
    ip, gateway = first.get("IPAddress", ""), first.get("Gateway", "")
    log_dir = (env.get("KAFKA_LOG_DIRS") or env.get("KAFKA_LOG_DIR") or DEFAULT_LOG_DIR).split(",")[0]
    if Role.BROKER in roles:
        where = reachable(env.get("KAFKA_ADVERTISED_LISTENERS", ""), ip)
        if where is None:
            raise UsageError(f"container {name} (node {env['KAFKA_NODE_ID']}) advertises no listener this machine "
                             "can reach: advertise one on localhost with a published port (see compose/README.md)")
        host, port = where
    else:
        controller = [p for n, _, p in listeners(env.get("KAFKA_LISTENERS", "")) if n == "CONTROLLER"]
        host, port = ip, controller[0] if controller else 9093
    return Found(container=name, node=int(env["KAFKA_NODE_ID"]), roles=roles, host=host, port=port, ip=ip,
                 gateway=gateway, log_dir=log_dir, metadata_dir=env.get("KAFKA_METADATA_LOG_DIR") or log_dir,
                 cluster_id=env.get("CLUSTER_ID", "unknown"), image=info["Config"].get("Image", ""),
                 running=bool(info["State"].get("Running")))


class ComposeCluster(DockerCluster):
    """A compose project's Kafka cluster, taken over: acted on, restored, never removed."""

    def __init__(self, spec: ClusterSpec, workdir: Path, running_at_attach: list[int] | None = None):
        self.spec, self.workdir = spec, Path(workdir).resolve()
        self.found = self._discover()
        self.layout = [NodeLayout(f.node, f.roles, f.host, f.port if Role.BROKER in f.roles else 0,
                                  0 if Role.BROKER in f.roles else f.port, None) for f in self.found]
        self.nodes = {f.node: ContainerNode(layout, self, f.container, f.ip, data=f.log_dir,
                                            metadata_dir=f.metadata_dir)
                      for f, layout in zip(self.found, self.layout)}
        self.cluster_id = self.found[0].cluster_id
        self.image = self.found[0].image
        self.version = self._version()
        self.toxiproxy = None
        self.owner: ProcessRef | None = None
        self.running_at_attach = running_at_attach if running_at_attach is not None else \
            [f.node for f in self.found if f.running]
        self._admin = None
        self._state_lock = threading.Lock()
        self.access = None

    def _discover(self) -> list[Found]:
        filters = self.spec.docker.attach_filter
        found = sorted(filter(None, (describe(client().api.inspect_container(c["Id"]))
                                     for c in client().api.containers(all=True, filters=filters))),
                       key=lambda f: f.node)
        if not found:
            raise UsageError(f"no Kafka container matches {filters['label']} (containers with KAFKA_NODE_ID): "
                             "start the compose project first")
        if len({f.node for f in found}) != len(found):
            raise UsageError(f"containers matching {filters['label']} repeat a KAFKA_NODE_ID")
        return found

    def _version(self) -> str:
        match = VERSION.search(self.image.rsplit(":", 1)[-1]) if ":" in self.image else None
        return match.group(1) if match else "unknown"

    @property
    def gateway(self) -> str:
        return self.found[0].gateway

    @property
    def network(self) -> str:
        return "(the compose project's)"

    @property
    def capabilities(self) -> frozenset[Capability]:
        offered = {Capability.PROCESSES, Capability.TOPOLOGY, Capability.QUORUM}
        if engine.local_control():
            offered |= {Capability.NETWORK, Capability.CLIENT_NETWORK}
        return frozenset(offered)

    def start(self, timeout: float = 120, owned: bool = True) -> "ComposeCluster":
        """Take the cluster over: it must have the shape the spec asks for, and be ready."""
        self._check_shape()
        self.owner = ProcessRef.of_process(psutil.Process())
        self.save_state()
        self.wait_ready(timeout)
        if not owned:
            self.owner = None
            self.save_state()
        return self

    def _check_shape(self) -> None:
        brokers = sum(Role.BROKER in f.roles for f in self.found)
        controllers_only = sum(f.roles == (Role.CONTROLLER,) for f in self.found)
        if (brokers, controllers_only) != (self.spec.nodes, self.spec.controllers):
            raise UsageError(f"compose cluster {self.spec.docker.attach} has {brokers} broker(s) and "
                             f"{controllers_only} dedicated controller(s); the experiment asks for "
                             f"{self.spec.nodes} and {self.spec.controllers} (cluster.nodes, cluster.controllers)")

    def _fail_if_any_died(self) -> None:
        for node in self.nodes.values():
            if node.status == ProcessState.DEAD:
                raise UsageError(f"node {node.id} ({node.name}) of compose cluster {self.spec.docker.attach} "
                                 "is not running")

    def destroy(self) -> None:
        """Leave the project as it was found: no rule of ours, nothing paused, every node that ran
        when it was taken over running again; then forget it. Nothing is removed."""
        self._admin = None
        try:
            self.sweep_rules()
            for node in self.nodes.values():
                if node.status == ProcessState.PAUSED:
                    node.resume()
                if node.id in self.running_at_attach and node.status == ProcessState.DEAD:
                    node.start()
        finally:
            store.state_file(self.name).unlink(missing_ok=True)

    def save_state(self) -> None:
        with self._state_lock:
            store.save(store.ContainerState(
                spec=self.spec, workdir=self.workdir, cluster_id=self.cluster_id, image=self.image,
                kafka_version=self.version, owner=store.record(self.owner),
                running_at_attach=self.running_at_attach))

    @classmethod
    def attach(cls, name: str) -> "ComposeCluster":
        recorded = store.read_state(name)
        cluster = cls(recorded.spec, recorded.workdir, recorded.running_at_attach)
        if recorded.owner:
            cluster.owner = ProcessRef(recorded.owner.pid, recorded.owner.create_time)
        return cluster
