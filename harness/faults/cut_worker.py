"""Cutting one process off the network (a sink, a consumer, a producer cut from Kafka while everyone
else goes on; MirrorMaker cut from the primary by `partition-dcs`): every TCP packet of that
process (towards some addresses only, or all) is dropped on this machine, where it runs.

Two kinds of rules, both in this machine's filter table and tagged `<cluster>:<fault>-<id>`:
its sockets open at the cut are matched by their local port (a socket belongs to the cgroup it
was made in, so a cgroup rule alone would spare them), and the sockets it opens during the cut
by a cgroup (v2) of its own, which the process is moved into for the cut and back out of, to the
cgroup it came from, at the heal.
A sink's database is a Unix socket and stays reachable: only Kafka is cut.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal

from harness.cluster.backend import Backend, Capability
from harness.faults.base import Env, FaultError, Injected, fault, sweep
from harness.faults.client import ClientFault
from harness.net import iptables
from harness.net.command import run
from harness.process import ProcessState
from harness.workload.windows import Window

PREFIX = "kc-cut-"  # the cgroups a cut makes: kc-cut-<cluster>-<id>
FAMILY = ("cut-worker", "partition-dcs")  # the faults that cut a process (harness.faults.mirror too)


def cgroup2_root() -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (alone, or beside v1 as `unified`)."""
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2":
            return Path(fields[1])
    return None


def rules(tag: str, cgroup: str, ports: list[int], peers: list[str] | None = None) -> list[list[str]]:
    """The iptables rule specs that cut a process: its open sockets by port, new ones by cgroup;
    towards `peers` (addresses) only, or everywhere."""
    comment = ["-m", "comment", "--comment", f"{iptables.TAG}:{tag}", "-j", "DROP"]
    towards = [["-d", peer] for peer in peers] if peers else [[]]
    found = [["OUTPUT", *to, "-m", "cgroup", "--path", cgroup, *comment] for to in towards]
    for port in sorted(set(ports)):
        found.append(["OUTPUT", "-p", "tcp", "--sport", str(port), *comment])
        found.append(["INPUT", "-p", "tcp", "--dport", str(port), *comment])
    return found


def tcp_ports(pid: int, peers: list[str] | None = None) -> list[int]:
    """The local ports of a process's TCP sockets (to `peers` only, if given: IPv4 addresses, which
    a JVM's dual-stack sockets show mapped into IPv6)."""
    import psutil

    return [c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp")
            if c.laddr and (peers is None or (c.raddr and c.raddr.ip.removeprefix("::ffff:") in peers))]


def move(pid: int, group: Path) -> None:
    (group / "cgroup.procs").write_text(f"{pid}\n")


def cgroup_of(pid: int, root: Path) -> Path:
    """The cgroup v2 directory process `pid` is in now."""
    line = next(line for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if line.startswith("0::"))
    return root / line[3:].strip().lstrip("/")


def release(root: Path, group: Path, home: Path | None = None) -> None:
    """Every process of `group` back to `home` (the cgroup it came from, when known and still
    there; else the root cgroup), and the group gone."""
    back = home if home is not None and (home / "cgroup.procs").exists() else root
    procs = group / "cgroup.procs"
    for pid in procs.read_text().split() if procs.exists() else []:
        try:
            move(int(pid), back)
        except (OSError, ValueError):
            pass  # it ended meanwhile
    group.rmdir()


@fault
class CutWorker(ClientFault):
    """Drop every TCP packet of one worker (a sink cut from Kafka; its database stays): it can
    neither fetch, commit nor heartbeat, and its group rebalances it away. Healed by removing the
    rules: it reconnects as it is, no restart."""

    fault: Literal["cut-worker"] = "cut-worker"
    needs: ClassVar = frozenset({Capability.CLIENT_NETWORK})

    def inject(self, env: Env) -> Injected:
        process = self.caught(env)
        try:
            applied, heal = cut_process(process.pid, env.cluster.name, self.name)
        finally:
            if self.window != Window.ANY and process.status == ProcessState.PAUSED:
                process.resume()  # frozen only to be caught in its window
        return Injected(f"worker {process.name}.{process.incarnation} cut off the network{self.where()}",
                        [self.worker], applied, lambda: f"{heal()}; worker {process.name} reconnects")


def cut_process(pid: int, cluster: str, fault_name: str, peers: list[str] | None = None
                ) -> tuple[list[str], Callable[[], str]]:
    """Drop every TCP packet of process `pid` (towards `peers` only, if given) under a tag of
    `cluster`; returns the rules applied and the heal, which removes them and the cgroup."""
    root = cgroup2_root()
    if root is None:
        raise FaultError(f"{fault_name} needs a cgroup v2 hierarchy mounted (none in /proc/mounts)")
    suffix = uuid.uuid4().hex[:8]
    tag, name = f"{cluster}:{fault_name}-{suffix}", f"{PREFIX}{cluster}-{suffix}"
    group, home = root / name, cgroup_of(pid, root)
    group.mkdir()
    applied = []
    try:
        move(pid, group)  # its new sockets from now on
        for spec in rules(tag, name, tcp_ports(pid, peers), peers):
            run(iptables.command(None, "-A", *spec))
            applied.append("iptables -A " + " ".join(spec))
    except Exception:
        iptables.sweep([None], tag)
        release(root, group, home)
        raise

    def heal() -> str:
        removed = len(iptables.sweep([None], tag))
        release(root, group, home)
        return f"removed {removed} rules and cgroup {name}"

    return applied, heal


@sweep(Capability.CLIENT_NETWORK)
def leftovers(cluster: Backend) -> list[str]:
    """The rules and cgroups of cuts a dead harness left on this cluster's workers (whose processes
    go to the root cgroup: where each came from died with the harness)."""
    done = [r for fault in FAMILY for r in iptables.sweep([None], f"{cluster.name}:{fault}-", prefix=True)]
    root = cgroup2_root()
    # The id's eight hex digits end the name, so cluster "a" never takes cluster "a-b"'s groups.
    for group in sorted(root.glob(f"{PREFIX}{cluster.name}-{'[0-9a-f]' * 8}")) if root else []:
        release(root, group)
        done.append(f"cgroup {group.name} removed")
    return done
