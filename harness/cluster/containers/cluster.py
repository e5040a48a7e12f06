"""The docker backend: each Kafka node a container on the cluster's own Docker network, configured
by the same functions as the local backend (harness.cluster.layout), so an experiment runs
unchanged on either.

    with DockerCluster(ClusterSpec(name="dk", subnet=80, docker=DockerSpec()), workdir) as cluster:   # ready on entry
        cluster.node(2).kill()                     # the Docker API
        cluster.drop(1, 2, Way.IN, "fault-1")      # iptables in node 1's network namespace

The network is 198.18.<subnet>.0/24 with the host at .1 (where clients and Toxiproxy are) and
node N at .(10+N), as in the local backend's lab. Each node's network namespace is held by a
small container of its own (`...-net`, running `sleep`), which the Kafka container joins: a
killed or restarted node keeps its address and the rules a partition put there, as a local node
keeps its namespace. Its data is on a volume, or on a tmpfs of its own when a fault must fill it.

Everything the cluster makes carries the label kafka-chaos.cluster=<name> (containers, network,
volumes), and its state file (harness.cluster.containers.state) names the process it belongs to:
`destroy()` and `kafka-chaos cluster down` remove exactly what carries the label, also after a
SIGKILLed harness, and nothing else.
"""

from __future__ import annotations

import io
import logging
import shutil
import tarfile
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import psutil

from harness.cluster.admin import KafkaAdmin
from harness.cluster.backend import CLIENTS, Capability, Peer, Way
from harness.cluster.containers import engine
from harness.cluster.containers import state as store
from harness.cluster.containers.engine import PREFIX, client, labels
from harness.cluster.disks import OwnDisks
from harness.cluster.distribution import parse_version, resolve_version
from harness.cluster.kraft import QUORUM_STATE, KraftViews, java_error, new_cluster_id, parse_quorum_state
from harness.cluster.layout import (NodeLayout, logging_config, plan, render_properties, server_properties,
                                    toxiproxy_port)
from harness.cluster.local import jvm_options
from harness.cluster.proxies import ProxiedPaths
from harness.cluster.spec import ClusterSpec
from harness.errors import EnvironmentProblem, UsageError
from harness.mounts import mount_disk
from harness.net import iptables
from harness.net.lab import Lab
from harness.net.toxiproxy import Toxiproxy
from harness.process import ProcessRef, ProcessState

log = logging.getLogger(__name__)

DATA = "/var/lib/kafka/data"  # a node's log directory in its container (apache/kafka's data volume)
CONFIG = "/etc/kafka-chaos"  # where the node's server.properties, logging config and start script go
STOP_TIMEOUT_S = 20
HOLD = ["sleep", "2147483647"]  # what a node's network-namespace holder runs (any image has sleep)


def network_name(cluster: str) -> str:
    return f"{PREFIX}{cluster}"


def container_name(cluster: str, node: int) -> str:
    return f"{PREFIX}{cluster}-n{node}"


class ContainerNode:
    """One Kafka container: broker, controller or both."""

    def __init__(self, layout: NodeLayout, cluster: "DockerCluster", name: str, ip: str,
                 holder: str | None = None, data: str = DATA, metadata_dir: str | None = None):
        self.layout, self.cluster, self.name, self.ip, self.holder = layout, cluster, name, ip, holder
        self.mount_path = data  # the log directory as the node's process sees it
        self.metadata_dir = metadata_dir or data
        self.dir = cluster.workdir / "nodes" / f"node-{layout.id}"

    def __repr__(self) -> str:
        return f"ContainerNode({self.id}, {self.name}, {self.address})"

    @property
    def id(self) -> int:
        return self.layout.id

    @property
    def address(self) -> str:
        return self.layout.broker_address if self.layout.is_broker else self.layout.controller_address

    @property
    def disk_dir(self) -> Path:
        """The node's own disk on this machine (a tmpfs), when the cluster gives it one."""
        return self.dir / "disk"

    def _state(self, name: str | None = None) -> dict | None:
        from docker.errors import NotFound

        try:
            return self.cluster.api.inspect_container(name or self.name)["State"]
        except NotFound:
            return None

    @property
    def status(self) -> ProcessState:
        state = self._state()
        if not state or not state.get("Running"):
            return ProcessState.DEAD
        return ProcessState.PAUSED if state.get("Paused") else ProcessState.RUNNING

    @property
    def pid(self) -> int | None:
        """The JVM's pid on this machine (the container's main process), while it runs."""
        state = self._state()
        return state["Pid"] if state and state.get("Running") and state.get("Pid") else None

    def start(self) -> None:
        if self.status != ProcessState.DEAD:
            raise UsageError(f"node {self.id} is already {self.status}")
        self.cluster.api.start(self.name)
        log.info("node %s started (container %s)", self.id, self.name)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Graceful stop: SIGTERM (controlled shutdown), SIGKILL if it takes over `timeout`."""
        if self.status == ProcessState.PAUSED:
            self.cluster.api.unpause(self.name)
        if self.status == ProcessState.RUNNING:
            self.cluster.api.stop(self.name, timeout=int(timeout))

    def kill(self) -> None:
        """SIGKILL: no controlled shutdown, no flush; returns once the container has exited."""
        from docker.errors import APIError

        if self.status == ProcessState.DEAD:
            return
        try:
            self.cluster.api.kill(self.name)
        except APIError:
            if self.status != ProcessState.DEAD:  # not the race with its own exit
                raise
        self.cluster.api.wait(self.name, timeout=STOP_TIMEOUT_S)

    def pause(self) -> None:
        """Frozen with its sockets open (the cgroup freezer: `docker pause`)."""
        self.cluster.api.pause(self.name)
        self._expect(ProcessState.PAUSED, "pause")

    def resume(self) -> None:
        self.cluster.api.unpause(self.name)
        self._expect(ProcessState.RUNNING, "unpause")

    def restart(self, graceful: bool = True) -> None:
        self.stop() if graceful else self.kill()
        self.start()

    def _expect(self, wanted: ProcessState, action: str) -> None:
        if self.status != wanted:
            raise EnvironmentProblem(f"node {self.id} did not become {wanted} on docker {action}")

    def netns(self) -> iptables.Netns:
        """The node's network namespace, entered through the process holding it."""
        state = self._state(self.holder) if self.holder else self._state()
        if not state or not state.get("Running") or not state.get("Pid"):
            raise EnvironmentProblem(f"node {self.id} has no network namespace now ({self.holder or self.name} "
                                     "is not running)")
        return iptables.Netns(self.holder or self.name, state["Pid"])

    def read(self, path: str) -> bytes | None:
        """A file in the container: through /proc/<pid>/root while it runs on this machine (fast),
        else copied out through the Docker API; None when there is no such file."""
        pid = self.pid if engine.is_local() else None
        if pid:
            try:
                return Path(f"/proc/{pid}/root{path}").read_bytes()
            except FileNotFoundError:
                return None
            except OSError:
                pass  # not ours to read (not root): ask Docker
        with self.cluster.archive(self.name, path) as tar:
            member = tar.next() if tar else None
            extracted = tar.extractfile(member) if member else None
            return extracted.read() if extracted else None

    def quorum_view(self) -> tuple[int, int] | None:
        """(leader epoch, leader id) as this controller last wrote it, -1 when it knows none."""
        return parse_quorum_state(self.read(f"{self.metadata_dir}/{QUORUM_STATE}"))

    def copy_out(self, path: str, into: Path) -> bool:
        """Copy `path` (a file or folder of the container) into the folder `into`; False if absent."""
        with self.cluster.archive(self.name, path) as tar:
            if tar is None:
                return False
            into.mkdir(parents=True, exist_ok=True)
            tar.extractall(into, filter="data")
            return True


class _Archive:
    """`with cluster.archive(container, path) as tar`: the tar stream Docker gives for `path`, or None."""

    def __init__(self, api, container: str, path: str):
        self.api, self.container, self.path, self.tar = api, container, path, None

    def __enter__(self) -> tarfile.TarFile | None:
        from docker.errors import NotFound

        try:
            stream, _ = self.api.get_archive(self.container, self.path)
        except NotFound:
            return None
        self.tar = tarfile.open(fileobj=io.BytesIO(b"".join(stream)))
        return self.tar

    def __exit__(self, *exc) -> None:
        if self.tar:
            self.tar.close()


class DockerCluster(KraftViews, ProxiedPaths, OwnDisks):
    """The docker backend: every capability, network and disks where this process can enter the
    containers' namespaces (the engine on this machine, root)."""

    def __init__(self, spec: ClusterSpec, workdir: Path, cluster_id: str | None = None, image: str | None = None):
        refuse_unsupported(spec)
        self.spec = spec
        self.workdir = Path(workdir).resolve()
        self.lab = Lab(spec.name, spec.subnet)  # names and addresses; Docker makes the bridge
        self.layout = plan(spec, self.lab)
        self.nodes = {layout.id: ContainerNode(layout, self, container_name(spec.name, layout.id), layout.host,
                                               holder=f"{container_name(spec.name, layout.id)}-net")
                      for layout in self.layout}
        self.cluster_id = cluster_id or new_cluster_id()
        self.image = image
        self.version = resolve_version(spec.kafka_version)
        self.toxiproxy: Toxiproxy | None = Toxiproxy(toxiproxy_port(spec)) if spec.proxy.enabled else None
        self.owner: ProcessRef | None = None
        self._admin: KafkaAdmin | None = None
        self._state_lock = threading.Lock()
        self.access = None  # plaintext clusters only: no logins, no ACLs

    # ---- describing the cluster -------------------------------------------------------------

    @property
    def api(self):
        return client().api

    @property
    def network(self) -> str:
        return network_name(self.name)

    @property
    def gateway(self) -> str:
        """The host's address on the cluster's network: where clients' packets come from."""
        return self.lab.gateway

    @property
    def kafka_version(self) -> str:
        return self.version

    @property
    def capabilities(self) -> frozenset[Capability]:
        """No power, clock, protocol or security faults: nothing in the containers for them."""
        offered = {Capability.PROCESSES, Capability.TOPOLOGY, Capability.QUORUM}
        if engine.local_control():  # nsenter into the containers' namespaces
            offered |= {Capability.NETWORK, Capability.CLIENT_NETWORK, Capability.DISKS}
        if self.toxiproxy:
            offered |= {Capability.PROXIES, Capability.CLIENT_PROXIES}
        return frozenset(offered)

    @property
    def harness_client(self) -> dict[str, str]:
        return {}  # plaintext: the harness's clients need no login

    def archive(self, container: str, path: str) -> _Archive:
        return _Archive(self.api, container, path)

    def _container_log(self, node: ContainerNode) -> bytes:
        """The container's whole output so far (Docker keeps it across restarts)."""
        from docker.errors import NotFound

        try:
            return self.api.logs(node.name, stdout=True, stderr=True)
        except NotFound:
            return b""

    def log_marks(self) -> dict[int, int]:
        return {n.id: len(self._container_log(n)) for n in self.nodes.values()}

    def copy_logs(self, marks: dict[int, int], into: Callable[[int], Path]) -> None:
        for node in self.nodes.values():
            into(node.id).write_bytes(self._container_log(node)[marks.get(node.id, 0):])

    def segment_dirs(self, partitions: list[tuple[str, int]], scratch: Path) -> dict[int, Path]:
        """Each broker's folders of `partitions`, copied out of its container into `scratch`."""
        found = {}
        for node in self.brokers:
            into = scratch / f"node-{node.id}"
            for topic, partition in sorted(set(partitions)):
                node.copy_out(f"{node.mount_path}/{topic}-{partition}", into)
            into.mkdir(parents=True, exist_ok=True)
            found[node.id] = into
        return found

    def describe(self) -> dict:
        """Nodes, containers, pids and states, for `cluster status`."""
        return {
            "name": self.name, "backend": "docker", "cluster_id": self.cluster_id, "kafka_version": self.kafka_version,
            "image": self.image, "network": self.network, "capabilities": sorted(self.capabilities),
            "bootstrap_servers": self.bootstrap_servers, "workdir": str(self.workdir),
            "active_controller": self.active_controller(),
            "nodes": [{"id": n.id, "roles": list(n.layout.roles), "address": n.address, "container": n.name,
                       "pid": n.pid, "status": n.status} for n in self.nodes.values()],
        }

    # ---- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> "DockerCluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()

    def start(self, timeout: float = 120, owned: bool = True) -> "DockerCluster":
        """Make the network, volumes and containers, start every node and wait until the cluster
        is ready. Anything that fails on the way takes down what was already made; until ready,
        and for good if `owned`, the cluster belongs to this process (see LocalCluster.start)."""
        from harness.cluster.containers.image import resolve

        self.owner = ProcessRef.of_process(psutil.Process())
        self._refuse_if_running()
        store.sweep(self.name)  # leftovers of a harness killed earlier
        self.image = self.image or resolve(self.version, self.spec.docker.image, self.spec.docker.pull)
        try:
            self._provision()
            self._start_all()
            self.wait_ready(timeout)
        except BaseException:
            self.destroy()
            raise
        if not owned:
            self.owner = None
            self.save_state()
        return self

    def _refuse_if_running(self) -> None:
        previous = store.read_state(self.name)
        running = client().containers.list(filters={**engine.label_filter(self.name), "status": "running"})
        if not running or previous is None:
            return  # nothing, or nothing anyone can reach any more: start() sweeps it
        if previous.owner and not ProcessRef(**previous.owner.model_dump()).alive:
            log.warning("removing cluster %r left by a harness that died (pid %s)", self.name, previous.owner.pid)
            return
        raise UsageError(f"cluster {self.name!r} is already running: `kafka-chaos cluster down --name {self.name}` first")

    def _provision(self) -> None:
        shutil.rmtree(self.workdir / "nodes", ignore_errors=True)
        self.save_state()
        self._create_network()
        if self.toxiproxy:
            self._start_proxies(self.workdir / "toxiproxy.log")  # the replication proxies listen on the gateway
        declared = set(client().images.get(self.image).attrs["Config"].get("Volumes") or {})
        for node in self.nodes.values():
            self._create_node(node, declared)

    def _create_network(self) -> None:
        from docker.errors import APIError
        from docker.types import IPAMConfig, IPAMPool

        self.lab.refuse_if_taken()
        pool = IPAMPool(subnet=self.lab.subnet_cidr, gateway=self.gateway)
        try:
            client().networks.create(self.network, driver="bridge", ipam=IPAMConfig(pool_configs=[pool]),
                                     labels=labels(self.name), check_duplicate=True)
        except APIError as exc:
            raise UsageError(f"cannot make Docker network {self.network} on {self.lab.subnet_cidr}: "
                             f"{exc.explanation or exc} (give this cluster another subnet)") from None

    def _create_node(self, node: ContainerNode, declared: set[str]) -> None:
        """The node's namespace holder and its Kafka container, configured (not started yet)."""
        # The image's declared volumes get a small tmpfs each: Docker would make unlabelled volumes.
        api, unused = self.api, {path: "size=1m" for path in declared}
        api.create_container(
            self.image, entrypoint=HOLD[:1], command=HOLD[1:], name=node.holder, user="0:0",
            hostname=f"node-{node.id}", labels=labels(self.name, node=node.id, role="net"),
            host_config=api.create_host_config(network_mode=self.network, tmpfs=unused),
            networking_config=api.create_networking_config(
                {self.network: api.create_endpoint_config(ipv4_address=node.ip)}))
        mounts = [self._data_mount(node)]
        log_name, _, log_property = logging_config(self._logging())
        options = [*jvm_options(self.spec), f"-Dkafka.chaos.node={node.id}", f"{log_property}{CONFIG}/{log_name}"]
        api.create_container(
            self.image, entrypoint=["/bin/sh", f"{CONFIG}/start"], command=[self.cluster_id, *options],
            name=node.name, user="0:0", labels=labels(self.name, node=node.id, role="kafka"),
            stop_signal="SIGTERM", stop_timeout=STOP_TIMEOUT_S,
            host_config=api.create_host_config(network_mode=f"container:{node.holder}", mounts=mounts,
                                               tmpfs={path: size for path, size in unused.items() if path != DATA}))
        api.put_archive(node.name, "/", self._config_archive(node))

    def _data_mount(self, node: ContainerNode):
        """A volume of its own; or, when faults fill disks, a folder of the node's own tmpfs."""
        from docker.types import Mount

        if self.spec.disk_mb:
            mount_disk(node.disk_dir, self.spec.disk_mb, self.name)
            (node.disk_dir / "data").mkdir()
            return Mount(DATA, str(node.disk_dir / "data"), type="bind")
        volume = client().volumes.create(f"{node.name}-data", labels=labels(self.name, node=node.id))
        return Mount(DATA, volume.name, type="volume")

    def _logging(self) -> str:
        return "log4j2" if parse_version(self.version)[0] >= 4 else "log4j"

    def _config_archive(self, node: ContainerNode) -> bytes:
        """/etc/kafka-chaos/: server.properties from layout.py (as the local backend's), the
        logging config and the start script. A copy of each goes to the node's folder here."""
        props = server_properties(node.layout, self.layout, self.spec, Path(DATA))
        log_name, log_contents, _ = logging_config(self._logging())
        start = (resources.files("harness.cluster.containers") / "files" / "start").read_bytes()
        files = {"server.properties": (render_properties(props).encode(), 0o644),
                 log_name: (log_contents.encode(), 0o644), "start": (start, 0o755)}
        node.dir.mkdir(parents=True, exist_ok=True)
        for name, (data, _) in files.items():
            (node.dir / name).write_bytes(data)
        return config_archive(CONFIG.lstrip("/"), files)

    def _start_all(self) -> None:
        for node in self.nodes.values():
            self.api.start(node.holder)
        for node in self.nodes.values():
            node.start()

    def _fail_if_any_died(self) -> None:
        for node in self.nodes.values():
            if node.status == ProcessState.DEAD:
                output = self.api.logs(node.name, stdout=True, stderr=True, tail=60).decode(errors="replace")
                raise EnvironmentProblem(f"node {node.id} exited while starting: {java_error(output)} "
                                         f"(docker logs {node.name})")

    def destroy(self) -> None:
        """Remove every container (killed: no controlled shutdown of what is thrown away), the
        network and the volumes of the cluster, its disks and its state. Each step is best-effort."""
        self._admin = None
        try:
            if self.toxiproxy:
                self.toxiproxy.stop()
        finally:
            store.sweep(self.name)

    # ---- network: DROP rules in the nodes' namespaces (nsenter) ------------------------------

    def drop(self, node: int, peer: Peer, way: Way, tag: str, share: float = 1.0) -> str:
        address = self.gateway if peer == CLIENTS else self.node(peer).ip
        rule = iptables.Rule(self.node(node).netns(), "INPUT" if way == Way.IN else "OUTPUT", address, tag, share)
        iptables.add(rule)
        return str(rule)

    def undrop(self, tag: str) -> int:
        return len(iptables.sweep(self._namespaces(), tag))

    def sweep_rules(self) -> list[str]:
        return iptables.sweep(self._namespaces())

    def _namespaces(self) -> list[iptables.Netns]:
        found = []
        for node in self.nodes.values():
            try:
                found.append(node.netns())
            except EnvironmentProblem:
                continue  # no namespace, no rule in it
        return found

    # ---- state ----------------------------------------------------------------------------

    def save_state(self) -> None:
        with self._state_lock:
            store.save(store.ContainerState(
                spec=self.spec, workdir=self.workdir, cluster_id=self.cluster_id, image=self.image,
                kafka_version=self.version, owner=store.record(self.owner),
                toxiproxy=store.record(self.toxiproxy.process if self.toxiproxy else None)))

    @classmethod
    def attach(cls, name: str) -> "DockerCluster":
        """The running cluster `name`, as recorded by the process that started (or took over) it."""
        recorded = store.read_state(name)
        if recorded is None:
            raise UsageError(f"no docker cluster named {name!r} is running (see `kafka-chaos cluster status`)")
        if recorded.spec.docker.attach:
            from harness.cluster.containers.compose import ComposeCluster

            return ComposeCluster.attach(name)
        cluster = cls(recorded.spec, recorded.workdir, recorded.cluster_id, recorded.image)
        if cluster.toxiproxy and recorded.toxiproxy:
            cluster.toxiproxy.process = ProcessRef(recorded.toxiproxy.pid, recorded.toxiproxy.create_time)
        if recorded.owner:
            cluster.owner = ProcessRef(recorded.owner.pid, recorded.owner.create_time)
        return cluster


def refuse_unsupported(spec: ClusterSpec) -> None:
    """What only the local backend can give a node (validation refuses the faults that need it)."""
    if spec.security.secured:
        raise UsageError("backend docker runs plaintext clusters only")
    if spec.hooks.lazyfs or spec.hooks.faketime or spec.proxy.kafka:
        raise UsageError("backend docker has no lazyfs, libfaketime or Kafka-protocol proxy in its nodes")


def config_archive(folder: str, files: dict[str, tuple[bytes, int]]) -> bytes:
    """A tar of `folder` holding `files` (name -> (contents, mode)), for Docker's put_archive."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        directory = tarfile.TarInfo(folder)
        directory.type, directory.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(directory)
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
