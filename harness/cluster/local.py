"""The local backend: N KRaft nodes, each its own JVM, in their own namespaces when we may.

    with LocalCluster(ClusterSpec(nodes=3), workdir) as cluster:   # ready on entry
        cluster.node(2).kill()
        cluster.partition("orders", 0).isr

Everything the cluster creates is recorded in its state file (harness.cluster.state) before it
can outlive us; `destroy()` and `kafka-chaos cluster down` remove all of it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import psutil

from harness.cluster import state as state_store
from harness.cluster.admin import KafkaAdmin
from harness.cluster import faketime
from harness.cluster.access import ClusterAccess
from harness.cluster.backend import CLIENTS, Capability, Peer, Way
from harness.cluster.disks import OwnDisks
from harness.cluster.distribution import KafkaDistribution, obtain
from harness.cluster.evidence import copy_since, file_marks
from harness.cluster.kraft import QUORUM_STATE, KraftViews, java_error, new_cluster_id, parse_quorum_state, tail
from harness.cluster.layout import (NodeLayout, certificate_hosts, logging_config, plan, protocol_proxy_port,
                                    render_properties, server_properties, toxiproxy_port)
from harness.cluster.security import (BrokerSecurity, Material, java_argfile_quoted, scram_format_arguments,
                                      write_private)
from harness.process import ProcessRef, ProcessState
from harness.cluster.spec import ClusterSpec, NetworkMode
from harness.cluster.state import MARKER, ClusterState, ProcessRecord
from harness.errors import EnvironmentProblem, UsageError
from harness.kafkaproxy import schema
from harness.kafkaproxy.client import KafkaProxy
from harness.lazyfs import mount as lazy
from harness.mounts import mount_disk
from harness.net import iptables
from harness.net.lab import Lab, has_net_admin
from harness.cluster.proxies import ProxiedPaths
from harness.net.toxiproxy import Toxiproxy

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 20.0


def jvm_options(spec: ClusterSpec) -> list[str]:
    """Small fixed heap and the serial collector: three brokers and a workload share 2 cores."""
    return [
        f"-Xms{spec.heap_mb}m", f"-Xmx{spec.heap_mb}m",
        "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError", "-XX:CICompilerCount=2",
        "-Djava.awt.headless=true",
    ]


class Node:
    """One Kafka process: broker, controller or both."""

    def __init__(self, layout: NodeLayout, cluster: "LocalCluster"):
        self.layout = layout
        self.cluster = cluster
        self.dir = cluster.workdir / "nodes" / f"node-{layout.id}"
        self.process: ProcessRef | None = None

    def __repr__(self) -> str:
        return f"Node({self.id}, {'+'.join(self.layout.roles)}, {self.address})"

    @property
    def id(self) -> int:
        return self.layout.id

    @property
    def address(self) -> str:
        """Where clients reach this node (its controller listener if it is no broker)."""
        return self.layout.broker_address if self.layout.is_broker else self.layout.controller_address

    @property
    def disk_dir(self) -> Path:
        """Where the node's own disk is mounted, when the cluster gives it one (`disk_mb`)."""
        return self.dir / "disk"

    @property
    def data_dir(self) -> Path:
        """Where Kafka keeps its logs: with lazyfs, the FUSE mount over `backing_dir`."""
        return (self.disk_dir if self.cluster.spec.disk_mb else self.dir) / "data"

    @property
    def mount_path(self) -> str:
        """The log directory as the node's process sees it (the same path: it shares our files)."""
        return str(self.data_dir)

    @property
    def backing_dir(self) -> Path:
        """Where a lazyfs data directory's files really are."""
        return (self.disk_dir if self.cluster.spec.disk_mb else self.dir) / "data.backing"

    @property
    def clock_file(self) -> Path:
        """libfaketime's control file: the node's clock offset, read every second."""
        return self.dir / "faketime.rc"

    @property
    def log_file(self) -> Path:
        return self.dir / "server.log"

    @property
    def config_file(self) -> Path:
        return self.dir / "server.properties"

    @property
    def status(self) -> ProcessState:
        return self.process.status() if self.process else ProcessState.DEAD

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.alive else None

    def write_config(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        cluster = self.cluster
        security = BrokerSecurity.of(cluster.spec.security, cluster.material) if cluster.material else None
        props = server_properties(self.layout, cluster.layout, cluster.spec, self.data_dir, security)
        write_private(self.config_file, render_properties(props))  # a secured node's holds its SCRAM password
        name, contents, _ = logging_config(self.cluster.dist.logging)
        (self.dir / name).write_text(contents)

    def command(self) -> list[str]:
        dist, spec = self.cluster.dist, self.cluster.spec
        name, _, jvm_property = logging_config(dist.logging)
        options = (*jvm_options(spec), f"{MARKER}{spec.name}", f"-Dkafka.chaos.node={self.id}",
                   f"{jvm_property}{self.dir / name}")
        java = dist.java_command("kafka.Kafka", str(self.config_file), jvm_options=options)
        if spec.hooks.faketime:
            java = ["env", *faketime.environment(self.clock_file), *java]
        ns = self.layout.namespace
        return ["ip", "netns", "exec", ns, *java] if ns else java

    def start(self) -> None:
        if self.status != ProcessState.DEAD:
            raise UsageError(f"node {self.id} is already {self.status}")
        with open(self.log_file, "ab") as out:
            popen = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.dir, start_new_session=True)
        self.process = ProcessRef.of(popen)
        self.cluster.save_state()
        log.info("node %s started (pid %s)", self.id, popen.pid)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Graceful stop: SIGTERM (controlled shutdown), SIGKILL if it takes over `timeout`."""
        if self.process:
            self.process.terminate(timeout)

    def kill(self) -> None:
        """SIGKILL: no controlled shutdown, no flush."""
        if self.process:
            self.process.kill()

    def pause(self) -> None:
        """SIGSTOP: the process stays, silent, holding its sockets open."""
        self._signal(signal.SIGSTOP, ProcessState.PAUSED)

    def resume(self) -> None:
        self._signal(signal.SIGCONT, ProcessState.RUNNING)

    def restart(self, graceful: bool = True) -> None:
        self.stop() if graceful else self.kill()
        self.start()

    def _signal(self, sig: signal.Signals, expected: ProcessState) -> None:
        if not (self.process and self.process.send(sig) and self.process.wait_status(expected, 10)):
            raise EnvironmentProblem(f"node {self.id} did not become {expected} on {sig.name}")

    def mount_lazy(self) -> None:
        """The data directory through a new lazyfs daemon (before the node starts)."""
        lazy.start(self.backing_dir, self.data_dir, self.cluster.name, self.dir / "lazyfs.log")

    def lazy_daemon(self) -> ProcessRef | None:
        """The daemon serving this node's data directory, found by its arguments."""
        found = [p for p in lazy.daemons(self.cluster.name) if str(self.data_dir) in p.cmdline()]
        return ProcessRef.of_process(found[0]) if found else None

    def quorum_view(self) -> tuple[int, int] | None:
        """(leader epoch, leader id) as this controller last wrote it, -1 when it knows none."""
        try:
            return parse_quorum_state((self.data_dir / QUORUM_STATE).read_text())
        except FileNotFoundError:
            return None


class LocalCluster(KraftViews, ProxiedPaths, OwnDisks):
    """The local backend: every capability (network and disks where this process may)."""

    def __init__(self, spec: ClusterSpec, workdir: Path, dist: KafkaDistribution | None = None,
                 cluster_id: str | None = None):
        self.spec = spec
        self.workdir = Path(workdir).resolve()
        self.network = _resolve_network(spec.network)
        self.lab = Lab(spec.name, spec.subnet) if self.network == NetworkMode.NAMESPACES else None
        self.layout = plan(spec, self.lab)
        self.nodes = {layout.id: Node(layout, self) for layout in self.layout}
        self._dist = dist
        self.cluster_id = cluster_id or new_cluster_id()
        self._admin: KafkaAdmin | None = None
        self._state_lock = threading.Lock()
        self.owner: ProcessRef | None = None
        self.toxiproxy: Toxiproxy | None = Toxiproxy(toxiproxy_port(spec)) if spec.proxy.enabled else None
        self.kafka_proxy = KafkaProxy(spec.name, protocol_proxy_port(spec)) if spec.proxy.kafka else None
        self.material = Material(self.workdir / "security") if spec.security.secured else None
        self.access = ClusterAccess(spec.security, self.material, self.admin, self._running_brokers) \
            if self.material else None

    # ---- describing the cluster -------------------------------------------------------------

    @property
    def dist(self) -> KafkaDistribution:
        if self._dist is None:
            self._dist = obtain(self.spec.kafka_version)
        return self._dist

    @property
    def kafka_version(self) -> str:
        return self.dist.version

    @property
    def capabilities(self) -> frozenset[Capability]:
        offered = {Capability.PROCESSES, Capability.TOPOLOGY, Capability.QUORUM}
        if self.lab:
            offered |= {Capability.NETWORK, Capability.CLIENT_NETWORK}  # each node in its own namespace
        if self.toxiproxy:
            offered |= {Capability.PROXIES, Capability.CLIENT_PROXIES}
        if os.geteuid() == 0:
            offered.add(Capability.DISKS)  # mounts
        if self.spec.hooks.lazyfs:
            offered.add(Capability.POWER)
        if self.spec.hooks.faketime:
            offered.add(Capability.CLOCKS)
        if self.kafka_proxy:
            offered.add(Capability.PROTOCOL)
        if self.access:
            offered.add(Capability.SECURITY)
        return frozenset(offered)

    @property
    def harness_client(self) -> dict[str, str]:
        return self.access.admin_client if self.access else {}

    def broker_logs(self) -> dict[int, Path]:
        return {n.id: n.log_file for n in self.nodes.values()}

    def data_dirs(self) -> dict[int, Path]:
        return {n.id: n.data_dir for n in self.brokers}

    def log_marks(self) -> dict[int, int]:
        return file_marks(self.broker_logs())

    def copy_logs(self, marks: dict[int, int], into) -> None:
        copy_since(self.broker_logs(), marks, into)

    def segment_dirs(self, partitions: list[tuple[str, int]], scratch: Path) -> dict[int, Path]:
        return self.data_dirs()  # already here

    def _running_brokers(self) -> list[str]:
        return [n.layout.broker_address for n in self.brokers if n.status == ProcessState.RUNNING]

    def describe(self) -> dict:
        """Nodes, addresses, pids and states, for `cluster status`."""
        return {
            "name": self.name,
            "cluster_id": self.cluster_id,
            "kafka_version": self.dist.version,
            "network": self.network.value,
            "security": self.spec.security.protocol.value,
            "capabilities": sorted(self.capabilities),
            "bootstrap_servers": self.bootstrap_servers,
            "workdir": str(self.workdir),
            "active_controller": self.active_controller(),
            "nodes": [
                {"id": n.id, "roles": list(n.layout.roles), "address": n.address,
                 "namespace": n.layout.namespace, "pid": n.pid, "status": n.status}
                for n in self.nodes.values()
            ],
        }

    # ---- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> "LocalCluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()

    def start(self, timeout: float = 120, owned: bool = True) -> "LocalCluster":
        """Provision, format and start every node, and wait until the cluster is ready.

        Anything that fails on the way takes down what was already started. Until it is ready,
        and for good if `owned`, the cluster belongs to this process: once that is dead, the
        next start of the same name sweeps what it left. `cluster up` leaves clusters running.
        """
        self.owner = ProcessRef.of_process(psutil.Process())
        self._refuse_if_running()
        state_store.sweep(self.name)  # leftovers of a harness killed earlier
        self.dist  # resolve Kafka (and Java) before creating anything
        try:
            self._provision()
            for node in self.nodes.values():
                node.start()
            self.wait_ready(timeout)
        except BaseException:
            self.destroy()
            raise
        if not owned:
            self.owner = None
            self.save_state()
        return self

    def _refuse_if_running(self) -> None:
        previous = state_store.read_state(self.name)
        if not previous or not any(ProcessRef(**p.model_dump()).alive for p in previous.processes.values()):
            return
        if previous.owner and not ProcessRef(**previous.owner.model_dump()).alive:
            log.warning("removing cluster %r left by a harness that died (pid %s)", self.name, previous.owner.pid)
            return  # start() sweeps it
        raise UsageError(f"cluster {self.name!r} is already running: `kafka-chaos cluster down` first")

    def _provision(self) -> None:
        shutil.rmtree(self.workdir / "nodes", ignore_errors=True)
        shutil.rmtree(self.workdir / "security", ignore_errors=True)  # an earlier cluster's CA, keys, revocations
        self.save_state()
        if self.lab:
            self.lab.create_bridge()
            for node_id in self.nodes:
                self.lab.add_node(node_id)
        if self.toxiproxy:
            self._start_proxies(self.workdir / "toxiproxy.log")
        if self.kafka_proxy:
            self.workdir.mkdir(parents=True, exist_ok=True)
            routes = {n.id: (n.layout.protocol_proxy, f"{n.layout.host}:{n.layout.protocol_port}") for n in self.brokers}
            self.kafka_proxy.start(schema.find_jar(self.dist.libs), routes, self.workdir / "kafka-proxy.log")
        if self.material:
            Material.create(self.material.folder, certificate_hosts(self.layout, self.spec, self.lab))
        for node in self.nodes.values():
            if self.spec.disk_mb:
                mount_disk(node.disk_dir, self.spec.disk_mb, self.name)
            if self.spec.hooks.lazyfs:
                node.mount_lazy()
            node.write_config()
            if self.spec.hooks.faketime:
                faketime.write(node.clock_file, 0.0)
        self._format_storage()

    def _format_storage(self) -> None:
        """kafka.tools.StorageTool on every node at once (a JVM start each)."""
        formats = [(node, subprocess.Popen(self._format_command(node), stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True))
                   for node in self.nodes.values()]
        try:
            for node, proc in formats:
                out, _ = proc.communicate(timeout=120)
                (node.dir / "format.log").write_text(out)
                if proc.returncode != 0:
                    raise EnvironmentProblem(f"formatting node {node.id} failed: {java_error(out)}")
        finally:
            for node in self.nodes.values():
                (node.dir / "format.args").unlink(missing_ok=True)

    def _format_command(self, node: Node) -> list[str]:
        command = self.dist.java_command("kafka.tools.StorageTool", "format", "-t", self.cluster_id,
                                         "-c", str(node.config_file))
        secrets = scram_format_arguments(self.spec.security, self.material) if self.material else []
        if not secrets:
            return command
        # SCRAM passwords stay out of the process table: the java launcher reads its arguments
        # from a file only this user can read (an @argfile), removed once the format is done.
        argfile = node.dir / "format.args"
        write_private(argfile, "\n".join(java_argfile_quoted(arg) for arg in [*command[1:], *secrets]) + "\n")
        return [command[0], f"@{argfile}"]

    def _fail_if_any_died(self) -> None:
        for node in self.nodes.values():
            if node.status == ProcessState.DEAD:
                raise EnvironmentProblem(
                    f"node {node.id} exited while starting: {java_error(tail(node.log_file))} "
                    f"(log: {node.log_file})")

    def destroy(self) -> None:
        """Kill every node, remove the lab network, the data and the state.

        No controlled shutdown: nothing of the cluster outlives this, and one costs about 6 s.
        Each step is best-effort so one failure does not leave the rest behind.
        """
        self._admin = None
        try:
            if self.toxiproxy:
                self.toxiproxy.stop()
            if self.kafka_proxy:
                self.kafka_proxy.stop()
        finally:
            state_store.sweep(self.name)  # SIGKILLs what is left, removes namespaces, bridge, state
            for node in self.nodes.values():
                shutil.rmtree(node.data_dir, ignore_errors=True)
                shutil.rmtree(node.backing_dir, ignore_errors=True)
            if self.material:
                shutil.rmtree(self.material.folder, ignore_errors=True)  # keys and passwords go with the cluster

    # ---- network: DROP rules inside the node namespaces ------------------------------------

    def drop(self, node: int, peer: Peer, way: Way, tag: str, share: float = 1.0) -> str:
        address = self.lab.gateway if peer == CLIENTS else self.lab.address(peer)
        rule = iptables.Rule(self.lab.namespace(node), "INPUT" if way == Way.IN else "OUTPUT", address, tag,
                             share)
        iptables.add(rule)
        return str(rule)

    def undrop(self, tag: str) -> int:
        return sum(len(iptables.sweep([self.lab.namespace(n)], tag)) for n in self.nodes)

    def sweep_rules(self) -> list[str]:
        return iptables.sweep([self.lab.namespace(n) for n in self.nodes]) if self.lab else []

    # ---- protocol: the Kafka-protocol proxy on the client path ---------------------------------

    def protocol_proxied(self) -> bool:
        return self.kafka_proxy is not None and self.kafka_proxy.up()

    def add_protocol_rule(self, node: int, rule: dict) -> str:
        self.kafka_proxy.add(node, rule)
        return f"protocol rule {rule} on node {node}'s client path"

    def remove_protocol_rules(self, tag: str) -> int:
        return self.kafka_proxy.remove(tag)

    def protocol_stats(self) -> dict:
        return self.kafka_proxy.stats()

    def sweep_protocol_rules(self) -> list[str]:
        return [f"protocol rule {r}" for r in self.kafka_proxy.clear()] if self.kafka_proxy else []

    # ---- power: each node's data directory on lazyfs -----------------------------------------

    def has_lazy_disk(self, node: int) -> bool:
        return str(self.node(node).data_dir) in lazy.mounts(self.name)

    def lose_power(self, node: int) -> str:
        """SIGKILL, then the daemon unmounts and drops every unsynced write, then a fresh mount
        (no page cache of the old one survives); the node stays down until started."""
        target = self.node(node)
        pid = target.pid
        target.kill()
        daemon = target.lazy_daemon()
        if daemon is None or not lazy.lose_power(daemon):
            raise EnvironmentProblem(f"node {node}'s lazyfs daemon did not drop its unsynced writes")
        target.mount_lazy()
        return f"SIGKILL pid {pid}, unsynced writes of {target.data_dir} dropped (lazyfs {daemon.pid}), remounted"

    def sweep_power(self) -> list[str]:
        """Mount again every data directory a dead harness left without its lazyfs daemon."""
        done = []
        for node in self.nodes.values():
            if self.spec.hooks.lazyfs and node.lazy_daemon() is None:
                if str(node.data_dir) in lazy.mounts(self.name):  # disconnected: its daemon was killed
                    lazy.sweep_mount(node.data_dir)
                node.mount_lazy()
                done.append(f"remounted node {node.id}'s data directory on lazyfs")
        return done

    # ---- clocks: libfaketime in each node's JVM --------------------------------------------

    def has_fake_clock(self, node: int) -> bool:
        return self.spec.hooks.faketime and self.node(node).clock_file.exists()

    def skew_clock(self, node: int, offset_s: float) -> str:
        clock = self.node(node).clock_file
        return f"{clock}: {faketime.write(clock, offset_s)}"

    def reset_clock(self, node: int) -> bool:
        clock = self.node(node).clock_file
        was_off = faketime.read(clock) not in (None, faketime.setting(0.0))
        if self.spec.hooks.faketime:
            faketime.write(clock, 0.0)
        return was_off

    def sweep_clocks(self) -> list[str]:
        return [f"node {n}'s clock back to the real time" for n in self.nodes if self.reset_clock(n)]

    # ---- state ----------------------------------------------------------------------------

    def save_state(self) -> None:
        with self._state_lock:
            state_store.save(ClusterState(
                spec=self.spec, network=self.network, workdir=self.workdir, cluster_id=self.cluster_id,
                kafka_version=self.dist.version, kafka_libs=self.dist.libs, java=self.dist.java,
                processes={n.id: ProcessRecord(pid=n.process.pid, create_time=n.process.create_time)
                           for n in self.nodes.values() if n.process},
                toxiproxy=ProcessRecord(pid=self.toxiproxy.process.pid, create_time=self.toxiproxy.process.create_time)
                if self.toxiproxy and self.toxiproxy.process else None,
                owner=ProcessRecord(pid=self.owner.pid, create_time=self.owner.create_time) if self.owner else None,
            ))

    @classmethod
    def attach(cls, name: str) -> "LocalCluster":
        """The running cluster `name`, as recorded by the process that started it."""
        recorded = state_store.read_state(name)
        if recorded is None:
            raise UsageError(f"no cluster named {name!r} is running (see `kafka-chaos cluster status`)")
        dist = KafkaDistribution(recorded.kafka_version, recorded.kafka_libs, recorded.java, "state")
        cluster = cls(recorded.spec.model_copy(update={"network": recorded.network}), recorded.workdir,
                      dist, recorded.cluster_id)
        for node_id, proc in recorded.processes.items():
            cluster.nodes[node_id].process = ProcessRef(proc.pid, proc.create_time)
        if cluster.toxiproxy and recorded.toxiproxy:
            cluster.toxiproxy.process = ProcessRef(recorded.toxiproxy.pid, recorded.toxiproxy.create_time)
        return cluster


def _resolve_network(mode: NetworkMode) -> NetworkMode:
    capable = has_net_admin()
    if mode == NetworkMode.AUTO:
        return NetworkMode.NAMESPACES if capable else NetworkMode.LOOPBACK
    if mode == NetworkMode.NAMESPACES and not capable:
        raise EnvironmentProblem("network mode 'namespaces' needs CAP_NET_ADMIN (run as root) and iproute2")
    return mode


