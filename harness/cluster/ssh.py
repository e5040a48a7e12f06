"""The ssh backend: a Kafka cluster someone else runs, its broker hosts reached over SSH
(harness.net.ssh), like Jepsen's control node.

    processes   the broker's pid from systemd (MainPID), a pid file or a command; kill, stop,
                pause, resume with signals (or systemctl / the given commands); start with
                systemctl or the start command
    topology    every broker asked for its metadata; the quorum from each host's quorum-state
    network     iptables on the hosts, every rule tagged `kafka-chaos:<cluster>:<fault>`; rules
                against the clients spare the harness's own SSH port
    disks       only with `disks` in the config: a read-only bind mount in the broker's mount
                namespace, a filler file in `fill_dir`
    proxies     the client path on this machine (harness.cluster.clientpath)
    evidence    broker logs and segment files fetched over SFTP

It acts only on the hosts listed. `start` checks every host first (login, host key, the
broker's unit or pid, its files) and changes nothing until all pass; `destroy` undoes what the
harness did and leaves the brokers running. With `dry_run`, every command is written down per
host instead of run (harness.cluster.dryrun).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from harness.cluster import remote
from harness.cluster.admin import KafkaAdmin
from harness.cluster.backend import CLIENTS, Capability, Peer, Way
from harness.cluster.clientpath import ClientPath, sweep_redirects
from harness.cluster.external import claim, client_side, kill_recorded_proxy, record_proxy, release
from harness.cluster.ssh_config import SshClusterConfig, SshHost
from harness.errors import EnvironmentProblem, UsageError
from harness.mounts import bind_read_only, unbind_read_only
from harness.net import iptables
from harness.net.shell import LOCAL, Recorder, Shell
from harness.net.ssh import Access, SshShell
from harness.process import ProcessState
from harness.process import ProcessRef

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 30.0
START_TIMEOUT_S = 60.0
SIGNAL_TIMEOUT_S = 10.0
FILLER = ".kafka-chaos-filler"
DRY_PID = "<pid>"


def offers(config: SshClusterConfig) -> frozenset[Capability]:
    offered = {Capability.PROCESSES, Capability.TOPOLOGY, Capability.QUORUM, Capability.NETWORK,
               Capability.CLIENT_NETWORK}
    offered |= client_side() & {Capability.CLIENT_PROXIES}
    if config.allows_disks:
        offered.add(Capability.DISKS)
    return frozenset(offered)


def access(config: SshClusterConfig, host: SshHost) -> Access:
    s = config.ssh
    return Access(address=host.address, port=host.port or s.port, user=host.user or s.user,
                  key_file=host.key_file or s.key_file, passphrase=s.passphrase, password=s.password,
                  known_hosts=s.known_hosts, check_host_keys=s.check_host_keys, host_key=host.host_key,
                  sudo=s.sudo, timeout=s.timeout_s)


class SshNode:
    """One broker host as a fault sees a node."""

    def __init__(self, cluster: "SshCluster", node_id: int, host: SshHost, shell: Shell):
        self.cluster, self.id, self.host, self.shell = cluster, node_id, host, shell
        self.broker = cluster.config.runtime(node_id)
        self.dry_state = ProcessState.RUNNING  # a dry run's idea of the broker, after what it "did"

    def __repr__(self) -> str:
        return f"SshNode({self.id}, {self.host.address})"

    @property
    def dry(self) -> bool:
        return isinstance(self.shell, Recorder)

    # ---- looking ------------------------------------------------------------------------

    def pid_text(self) -> str | None:
        """The broker's pid as its source prints it (None when there is none)."""
        b = self.broker
        if b.systemd_unit:
            out = self.shell.run(["systemctl", "show", "--property", "MainPID", "--value", b.systemd_unit],
                                 check=False)
        elif b.pid_file:
            out = self.shell.run(["cat", b.pid_file], check=False)
        else:
            out = self.shell.run(b.pid_command, check=False)
        if self.dry:
            return DRY_PID
        words = out.stdout.split()
        return words[0] if out.returncode == 0 and words and words[0].isdigit() and words[0] != "0" else None

    def state_of(self, pid: str | None) -> ProcessState:
        if pid is None:
            return ProcessState.DEAD
        out = self.shell.run(["ps", "-o", "stat=", "-p", pid], check=False)
        if self.dry:
            return self.dry_state
        stat = out.stdout.strip()
        if out.returncode != 0 or not stat or stat.startswith(("Z", "X")):
            return ProcessState.DEAD
        return ProcessState.PAUSED if stat.startswith("T") else ProcessState.RUNNING

    @property
    def status(self) -> ProcessState:
        return self.state_of(self.pid_text())

    @property
    def pid(self) -> int | None:
        pid = self.pid_text()
        return int(pid) if pid and pid.isdigit() and self.state_of(pid) != ProcessState.DEAD else None

    def _running_pid(self) -> str:
        pid = self.pid_text()
        if pid is None or self.state_of(pid) == ProcessState.DEAD:
            raise EnvironmentProblem(f"host {self.host.address}: the broker (node {self.id}) is not running: "
                                     f"no live pid from {self.pid_source()}")
        return pid

    def pid_source(self) -> str:
        b = self.broker
        return f"systemd unit {b.systemd_unit}" if b.systemd_unit else \
            f"pid file {b.pid_file}" if b.pid_file else f"`{' '.join(b.pid_command)}`"

    def _until(self, wanted: ProcessState, timeout: float, pid: str | None = None) -> bool:
        """Wait until the broker (the process `pid`, when given) is `wanted`; a dry run does not wait."""
        if self.dry:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.state_of(pid) if pid else self.status) == wanted:
                return True
            time.sleep(0.2)
        return False

    # ---- acting -------------------------------------------------------------------------

    def signal(self, name: str, pid: str | None = None) -> str:
        pid = pid or self._running_pid()
        self.shell.run(["kill", "-s", name, pid])
        return pid

    def _dry(self, state: ProcessState) -> None:
        if self.dry:
            self.dry_state = state

    def kill(self) -> None:
        pid = self.signal("KILL")
        self._dry(ProcessState.DEAD)
        if not self._until(ProcessState.DEAD, SIGNAL_TIMEOUT_S, pid):
            raise EnvironmentProblem(f"host {self.host.address}: the broker (pid {pid}) survived SIGKILL")

    def stop(self) -> None:
        """A controlled shutdown: systemctl stop, the stop command, or SIGTERM; SIGKILL if it
        takes longer than STOP_TIMEOUT_S."""
        pid = self._running_pid()
        if self.broker.systemd_unit:
            self.shell.run(["systemctl", "stop", self.broker.systemd_unit], timeout=STOP_TIMEOUT_S + 30)
        elif self.broker.stop:
            self.shell.run(self.broker.stop, timeout=STOP_TIMEOUT_S + 30)
        else:
            self.signal("TERM", pid)
            self.signal("CONT", pid)
        self._dry(ProcessState.DEAD)
        if not self._until(ProcessState.DEAD, STOP_TIMEOUT_S, pid):
            self.shell.quietly(["kill", "-s", "KILL", pid])
            self._until(ProcessState.DEAD, SIGNAL_TIMEOUT_S, pid)

    def pause(self) -> None:
        pid = self.signal("STOP")
        self._dry(ProcessState.PAUSED)
        if not self._until(ProcessState.PAUSED, SIGNAL_TIMEOUT_S, pid):
            raise EnvironmentProblem(f"host {self.host.address}: the broker (pid {pid}) did not stop on SIGSTOP")

    def resume(self) -> None:
        pid = self.signal("CONT")
        self._dry(ProcessState.RUNNING)
        if not self._until(ProcessState.RUNNING, SIGNAL_TIMEOUT_S, pid):
            raise EnvironmentProblem(f"host {self.host.address}: the broker (pid {pid}) did not continue on SIGCONT")

    def start(self) -> None:
        if not self.dry and self.status != ProcessState.DEAD:
            raise UsageError(f"node {self.id} on {self.host.address} is already {self.status}")
        if self.broker.systemd_unit:
            self.shell.run(["systemctl", "start", self.broker.systemd_unit], timeout=START_TIMEOUT_S)
        else:
            self.shell.run(self.broker.start, timeout=START_TIMEOUT_S)
        self._dry(ProcessState.RUNNING)
        if not self._until(ProcessState.RUNNING, START_TIMEOUT_S):
            raise EnvironmentProblem(f"host {self.host.address}: the broker did not start: no live pid from "
                                     f"{self.pid_source()} after {START_TIMEOUT_S:.0f} s")

    def restart(self, graceful: bool = True) -> None:
        self.stop() if graceful else self.kill()
        self.start()

    # ---- checking before anything is touched -------------------------------------------------

    def preflight(self) -> None:
        """Every problem is one line naming this host; nothing is changed."""
        where = f"host {self.host.address}"
        if isinstance(self.shell, SshShell):
            self.shell.client()
        unit = self.broker.systemd_unit
        if unit:
            out = self.shell.run(["systemctl", "show", "--property", "LoadState", "--value", unit], check=False)
            detail = (out.stderr or out.stdout).strip().splitlines()
            if out.returncode != 0:
                raise EnvironmentProblem(f"{where}: systemctl cannot tell about unit {unit}: "
                                         f"{detail[-1] if detail else out.returncode}")
            if out.stdout.strip() == "not-found":
                raise EnvironmentProblem(f"{where}: systemd unit {unit} does not exist")
        pid = self.pid_text()
        if pid is None or self.state_of(pid) == ProcessState.DEAD:
            found = f"pid {pid} is not running" if pid else "no pid"
            raise EnvironmentProblem(f"{where}: the broker's pid cannot be found ({found} from {self.pid_source()})")
        for path, test in [(self.broker.log_file, "-r"), *[(d, "-d") for d in self.broker.data_dirs]]:
            if self.shell.run(["test", test, path], check=False).returncode != 0:
                what = "broker log" if test == "-r" else "data directory"
                raise EnvironmentProblem(f"{where}: {what} {path} does not exist or cannot be read")

    def quorum_view(self) -> tuple[int, int] | None:
        folder = self.broker.metadata_dir or self.broker.data_dirs[0]
        out = self.shell.run(["cat", f"{folder}/__cluster_metadata-0/quorum-state"], check=False, timeout=5)
        try:
            view = json.loads(out.stdout)
            return int(view["leaderEpoch"]), int(view["leaderId"])
        except (ValueError, KeyError, TypeError):
            return None


class SshCluster(remote.AttachedCluster):
    """Every capability over SSH (disks only where the config allows)."""

    backend = "ssh"

    def __init__(self, config: SshClusterConfig, workdir: Path | None = None, dry_run: bool = False):
        self.config, self.workdir, self.dry_run = config, Path(workdir or "."), dry_run
        self.shells: dict[int, Shell] = {
            node: Recorder(host.address) if dry_run else SshShell(access(config, host))
            for node, host in zip(config.node_ids, config.hosts)}
        self.nodes = {node: SshNode(self, node, config.host(node), shell) for node, shell in self.shells.items()}
        self.here: Shell = Recorder("this machine") if dry_run else LOCAL
        self.topology = remote.Unresolved(config.bootstrap_servers, config.name) if dry_run else \
            remote.MetadataTopology(config.bootstrap_servers, config.name, remote.login_of(config.security))
        self.client_path = ClientPath(config.name, self.here)
        self._admin: KafkaAdmin | None = None
        self._clients: dict[int, list[str]] = {}

    # ---- what it is -----------------------------------------------------------------------

    @property
    def capabilities(self) -> frozenset[Capability]:
        return offers(self.config)

    def node(self, node_id: int) -> SshNode:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise UsageError(f"cluster {self.name} has no node {node_id} (nodes: {self.node_ids})") from None

    # ---- lifecycle: attach to what runs, never provision --------------------------------------

    def preflight(self) -> None:
        """Log in to every host and check what the config says is there, then log in to Kafka;
        changes nothing."""
        for node in self.nodes.values():
            node.preflight()
        remote.check_login(self.topology)

    def start(self, timeout: float = 120, owned: bool = True) -> "SshCluster":
        self.preflight()
        claim(self.name, self.backend, self.config.model_dump(mode="json"))
        try:
            self.sweep_rules()  # what a harness killed earlier left
            self.sweep_here()
            self.wait_ready(timeout)
            if self.config.proxy.clients:
                self.workdir.mkdir(parents=True, exist_ok=True)
                brokers = self.topology.brokers(refresh=True)
                process = self.client_path.start({n: brokers[n] for n in self.node_ids}, self.workdir / "toxiproxy.log")
                record_proxy(self.name, process, self.client_path.toxiproxy.port)
        except BaseException:
            self.destroy()
            raise
        return self

    def destroy(self) -> None:
        """Undo what this harness did (rules, redirect, Toxiproxy); the brokers go on running."""
        self._admin = None
        self.sweep_rules()
        self.sweep_here()
        release(self.name)

    def sweep_here(self) -> list[str]:
        """The client path's redirect and Toxiproxy on this machine."""
        return self.client_path.stop() + sweep_redirects(self.name, self.here) + kill_recorded_proxy(self.name)

    # ---- topology ---------------------------------------------------------------------------

    def _quorum_views(self) -> list[tuple[int, int, int]]:
        """(epoch, leader, host's node) of every host that answers and whose broker is not dead."""
        views = []
        for node in self.nodes.values():
            try:
                view = node.quorum_view()
            except EnvironmentProblem:
                continue  # unreachable now: the others answer
            if view:
                views.append((*view, node.id))
        return views

    def active_controller(self) -> int | None:
        """The leader at the highest epoch any host's quorum-state names (as the local backend)."""
        views = self._quorum_views()
        if not views:
            return None
        epoch = max(e for e, _, _ in views)
        leaders = {leader for e, leader, _ in views if e == epoch and leader >= 0}
        if len(leaders) != 1:
            return None
        leader = leaders.pop()
        return leader if leader not in self.nodes or self.nodes[leader].status != ProcessState.DEAD else None

    def quorum_epoch(self) -> int | None:
        return max((e for e, _, _ in self._quorum_views()), default=None)

    # ---- network: iptables on the hosts --------------------------------------------------------

    def clients(self, node: int) -> list[str]:
        """The addresses the workers come from, as `node` sees them."""
        if self.config.clients:
            return list(self.config.clients)
        if node not in self._clients:
            shell = self.shells[node]
            self._clients[node] = [shell.local_address] if isinstance(shell, SshShell) else ["<this machine>"]
        return self._clients[node]

    def drop(self, node: int, peer: Peer, way: Way, tag: str, share: float = 1.0) -> str:
        chain = "INPUT" if way == Way.IN else "OUTPUT"
        fault = f"{self.name}:{tag}"
        shell = self.shells[node]
        if peer == CLIENTS:  # the harness's SSH session goes on: it heals through it
            port = self.config.host(node).port or self.config.ssh.port
            rules = [iptables.Rule(None, chain, client, fault, share, spare_port=port) for client in self.clients(node)]
        else:
            rules = [iptables.Rule(None, chain, self.config.host(peer).address, fault, share)]
        for rule in rules:
            iptables.add(rule, shell)
        return "; ".join(f"{shell.where}: {rule}" for rule in rules)

    def undrop(self, tag: str) -> int:
        return sum(len(iptables.sweep([None], f"{self.name}:{tag}", shell)) for shell in self.shells.values())

    def sweep_rules(self) -> list[str]:
        return [line for shell in self.shells.values()
                for line in iptables.sweep([None], f"{self.name}:", shell, prefix=True)]

    # ---- disks: only where the config allows -----------------------------------------------------

    def _disks(self, node: int):
        disks = self.config.disks_of(node)
        if disks is None:
            raise EnvironmentProblem(f"cluster {self.name} allows no storage faults on node {node} (no `disks`)")
        return disks

    def has_own_disk(self, node: int) -> bool:
        return self.config.disks_of(node) is not None

    def fill_disk(self, node: int) -> str:
        """One file takes every free byte of fill_dir's filesystem (halving the size whenever the
        broker wrote in between)."""
        fill_dir = self._disks(node).fill_dir
        shell, filler = self.shells[node], f"{fill_dir}/{FILLER}"
        free = shell.run(["df", "--output=avail", "-B1", fill_dir]).stdout.split()
        size = int(free[-1]) if free and free[-1].isdigit() else 0
        taken = 0
        while size >= 4096:
            if shell.run(["fallocate", "-o", str(taken), "-l", str(size), filler], check=False).returncode == 0:
                taken += size
            else:
                size //= 2
            if self.dry_run:
                break
        return f"{shell.where}: fallocate {taken} bytes at {filler}"

    def empty_disk(self, node: int) -> bool:
        if self.config.disks_of(node) is None:
            return False
        shell, filler = self.shells[node], f"{self._disks(node).fill_dir}/{FILLER}"
        had = shell.run(["test", "-e", filler], check=False).returncode == 0
        shell.quietly(["rm", "-f", filler])
        return had and not self.dry_run

    def make_read_only(self, node: int) -> str:
        self._disks(node)
        target, shell = self.node(node), self.shells[node]
        pid = target._running_pid()
        for directory in target.broker.data_dirs:
            bind_read_only(pid, directory, shell)
        return f"{shell.where}: in the mount namespace of pid {pid}: mount --bind -o ro {target.broker.data_dirs}"

    def make_writable(self, node: int) -> bool:
        shell, pid = self.shells[node], self.node(node).pid_text()
        if pid is None:
            return False
        # the read-only binds make_read_only stacked there, never the disk the directory is on
        return any([unbind_read_only(pid, d, shell) for d in self.node(node).broker.data_dirs])

    def sweep_disks(self) -> list[str]:
        done = [f"emptied the filler on node {n}" for n in self.nodes if self.empty_disk(n)]
        return done + [f"remounted node {n}'s log directory read-write" for n in self.nodes if self.make_writable(n)]

    # ---- evidence over SFTP ---------------------------------------------------------------------

    def log_marks(self) -> dict[int, int]:
        marks = {}
        for node, shell in self.shells.items():
            try:
                marks[node] = shell.size(self.nodes[node].broker.log_file) if isinstance(shell, SshShell) else 0
            except EnvironmentProblem as exc:
                log.warning("no log mark: %s", exc)
        return marks

    def copy_logs(self, marks: dict[int, int], into) -> None:
        for node, shell in self.shells.items():
            if isinstance(shell, SshShell):
                try:
                    shell.copy(self.nodes[node].broker.log_file, into(node), marks.get(node, 0))
                except (EnvironmentProblem, OSError) as exc:
                    log.warning("broker log of node %s not fetched: %s", node, exc)

    def segment_dirs(self, partitions: list[tuple[str, int]], scratch: Path) -> dict[int, Path]:
        """The partitions' segment files of every host, fetched into scratch/node-N/."""
        found = {}
        for node, shell in self.shells.items():
            if not isinstance(shell, SshShell):
                continue
            local = scratch / f"node-{node}"
            for topic, partition in partitions:
                for data_dir in self.nodes[node].broker.data_dirs:
                    shell.copy_dir(f"{data_dir}/{topic}-{partition}", local / f"{topic}-{partition}", ".log")
            found[node] = local
        return found

    def describe(self) -> dict:
        return {"name": self.name, "backend": self.backend, "bootstrap_servers": self.bootstrap_servers,
                "capabilities": sorted(self.capabilities), "active_controller": self.active_controller(),
                "nodes": [{"id": n.id, "address": n.host.address, "pid": n.pid, "status": n.status}
                          for n in self.nodes.values()]}

    @classmethod
    def attach(cls, name: str) -> "SshCluster":
        recorded = remote.read_state(name)
        if recorded is None or recorded.backend != cls.backend:
            raise UsageError(f"no ssh cluster named {name!r} is in use")
        cluster = cls(SshClusterConfig.model_validate(recorded.config))
        if recorded.toxiproxy:
            cluster.client_path.attach(ProcessRef(recorded.toxiproxy.pid, recorded.toxiproxy.create_time),
                                       recorded.toxiproxy_port)
        return cluster

