"""The external backend: a Kafka cluster reached by its bootstrap servers alone.

No host of the cluster is touched. What it offers: the topology as the brokers tell it, and the
client side of the network on this machine, where the workers run: DROP rules towards a broker's
advertised address and port (cut-clients, packet loss to the clients) and Toxiproxy on the client
path (harness.cluster.clientpath). Every rule carries `kafka-chaos:<cluster>:`; `destroy` and
`kafka-chaos cluster heal` remove them. Starting and destroying it never starts or stops Kafka.
"""

from __future__ import annotations

import logging
from pathlib import Path

import psutil

from harness.cluster import remote
from harness.cluster.admin import KafkaAdmin
from harness.cluster.backend import CLIENTS, Capability, Peer, Way
from harness.cluster.clientpath import ClientPath, resolve, sweep_redirects
from harness.cluster.external_config import ExternalClusterConfig
from harness.errors import EnvironmentProblem, UsageError
from harness.net import iptables
from harness.net.lab import has_net_admin
from harness.net.shell import LOCAL, Recorder, Shell
from harness.process import ProcessRef
from harness.redact import redact

log = logging.getLogger(__name__)


def client_side(has_proxy: bool = True) -> set[Capability]:
    """What this machine can do to the client path: with CAP_NET_ADMIN, rules and the redirect."""
    return {Capability.CLIENT_NETWORK, Capability.CLIENT_PROXIES} if has_net_admin() and has_proxy else set()


def offers(config: ExternalClusterConfig) -> frozenset[Capability]:
    return frozenset({Capability.TOPOLOGY} | client_side())


class ExternalCluster(remote.AttachedCluster):
    backend = "external"

    def __init__(self, config: ExternalClusterConfig, workdir: Path | None = None, dry_run: bool = False):
        self.config, self.workdir = config, Path(workdir or ".")
        self.shell: Shell = Recorder("this machine") if dry_run else LOCAL
        self.here = self.shell
        self.topology = remote.Unresolved(config.bootstrap_servers, config.name) if dry_run else \
            remote.MetadataTopology(config.bootstrap_servers, config.name, remote.login_of(config.security))
        self.client_path = ClientPath(config.name, self.shell)
        self._admin: KafkaAdmin | None = None

    # ---- what it is -----------------------------------------------------------------------

    @property
    def capabilities(self) -> frozenset[Capability]:
        return offers(self.config)

    # ---- lifecycle: attach, never start or stop Kafka ---------------------------------------

    def preflight(self) -> None:
        """Log in to Kafka as the config says; changes nothing."""
        remote.check_login(self.topology)

    def start(self, timeout: float = 120, owned: bool = True) -> "ExternalCluster":
        claim(self.name, self.backend, self.config.model_dump(mode="json"))
        try:
            self.sweep_here()  # what a harness killed earlier left on this machine
            brokers = self.topology.brokers(refresh=True)  # a refused login ends here, in one line
            unknown = sorted(set(self.node_ids) - set(brokers))
            if unknown:
                raise EnvironmentProblem(f"cluster {self.name}: no broker with node id {unknown[0]} answers at "
                                         f"{self.bootstrap_servers} (brokers: {sorted(brokers)})")
            if self.config.proxy.clients:
                self.workdir.mkdir(parents=True, exist_ok=True)
                process = self.client_path.start({n: brokers[n] for n in self.node_ids},
                                                 self.workdir / "toxiproxy.log")
                record_proxy(self.name, process, self.client_path.toxiproxy.port)
            self.wait_ready(timeout)
        except BaseException:
            self.destroy()
            raise
        return self

    def destroy(self) -> None:
        """Undo what this harness did here; the cluster itself goes on as it was."""
        self._admin = None
        self.sweep_here()
        release(self.name)

    def sweep_here(self) -> list[str]:
        """Rules, redirect and Toxiproxy of this cluster's name on this machine."""
        done = self.sweep_rules() + self.client_path.stop() + sweep_redirects(self.name, self.shell)
        return done + kill_recorded_proxy(self.name)

    # ---- topology ---------------------------------------------------------------------------

    def active_controller(self) -> int | None:
        return None  # in KRaft only the controllers know; from outside, no one says

    def quorum_epoch(self) -> int | None:
        return None

    # ---- the client side of the network, on this machine -------------------------------------

    def drop(self, node: int, peer: Peer, way: Way, tag: str, share: float = 1.0) -> str:
        if peer != CLIENTS:
            raise EnvironmentProblem(f"backend external cannot reach between nodes {node} and {peer}")
        address = self.topology.brokers().get(node)
        ip, port = resolve(address) if address else (f"<address of node {node}>", "<port>")
        rule = iptables.Rule(None, "INPUT" if way == Way.IN else "OUTPUT", ip, f"{self.name}:{tag}", share,
                             peer_port=port)
        iptables.add(rule, self.shell)
        return f"this machine: {rule}"

    def undrop(self, tag: str) -> int:
        return len(iptables.sweep([None], f"{self.name}:{tag}", self.shell))

    def sweep_rules(self) -> list[str]:
        return iptables.sweep([None], f"{self.name}:", self.shell, prefix=True)

    # ---- evidence: nothing on the hosts to read -----------------------------------------------

    def log_marks(self) -> dict[int, int]:
        return {}

    def copy_logs(self, marks, into) -> None:
        return None

    def segment_dirs(self, partitions, scratch: Path) -> dict[int, Path]:
        return {}

    def describe(self) -> dict:
        return {"name": self.name, "backend": self.backend, "bootstrap_servers": self.bootstrap_servers,
                "capabilities": sorted(self.capabilities),
                "nodes": [{"id": n, "address": self.topology.brokers().get(n)} for n in self.node_ids]}

    @classmethod
    def attach(cls, name: str) -> "ExternalCluster":
        recorded = remote.read_state(name)
        if recorded is None or recorded.backend != cls.backend:
            raise UsageError(f"no external cluster named {name!r} is in use")
        cluster = cls(ExternalClusterConfig.model_validate(recorded.config))
        if recorded.toxiproxy:
            cluster.client_path.attach(ProcessRef(recorded.toxiproxy.pid, recorded.toxiproxy.create_time),
                                       recorded.toxiproxy_port)
        return cluster


# ---- the record of who uses a cluster it did not start (shared with the ssh backend) -----------


def claim(name: str, backend: str, config: dict) -> None:
    """Record that this process uses cluster `name`; refused while another live harness does."""
    previous = remote.read_state(name)
    if previous and previous.owner and ProcessRef(previous.owner.pid, previous.owner.create_time).alive \
            and previous.owner.pid != psutil.Process().pid:
        raise UsageError(f"cluster {name!r} is in use by the harness with pid {previous.owner.pid}: give this "
                         "experiment's cluster another name, or wait")
    kill_recorded_proxy(name)  # the Toxiproxy of a harness that died using it
    me = ProcessRef.of_process(psutil.Process())
    remote.save_state(name, remote.RemoteState(backend=backend, config=redact(config),
                                               owner=remote.Owner(pid=me.pid, create_time=me.create_time)))


def record_proxy(name: str, process: ProcessRef, port: int) -> None:
    state = remote.read_state(name)
    if state:
        state.toxiproxy = remote.Owner(pid=process.pid, create_time=process.create_time)
        state.toxiproxy_port = port
        remote.save_state(name, state)


def kill_recorded_proxy(name: str) -> list[str]:
    state = remote.read_state(name)
    if state and state.toxiproxy:
        process = ProcessRef(state.toxiproxy.pid, state.toxiproxy.create_time)
        if process.alive:
            process.kill()
            return [f"toxiproxy {process.pid}"]
    return []


def release(name: str) -> None:
    remote.forget(name)
