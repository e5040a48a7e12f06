"""DROP rules, each tagged with a comment naming the fault that added it, so a heal removes
exactly its own rules and a sweep finds any a dead harness left. Rules live inside a lab
namespace (local backend), on a broker host (ssh backend, through its shell) or on this machine
(the client side of the external backend); `shell` says where the commands run. A namespace is
a lab namespace's name (`ip netns exec`), or a `Netns` entered through a process living in it
(`nsenter --net`): a container's (docker backend)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.net.shell import LOCAL, Shell

TAG = "kafka-chaos"


@dataclass(frozen=True)
class Netns:
    """A network namespace entered through a process in it (a container's main process)."""

    name: str  # how messages call it, e.g. the container's name
    pid: int

    def __str__(self) -> str:
        return self.name


Namespace = str | Netns  # a lab namespace by name, or one entered through a process


@dataclass(frozen=True)
class Rule:
    namespace: Namespace | None  # a lab namespace, a process's, or None: wherever the shell runs
    chain: str  # INPUT or OUTPUT
    peer: str  # address dropped: the source (INPUT) or the destination (OUTPUT)
    fault: str  # id of the fault that added it
    share: float = 1.0  # of the packets dropped, at random (the statistic match): netem is absent here
    spare_port: int | None = None  # this host's TCP port left alone (the harness's own SSH session)
    peer_port: int | None = None  # only TCP packets from (INPUT) or to (OUTPUT) this port of the peer

    def spec(self) -> list[str]:
        direction = "-s" if self.chain == "INPUT" else "-d"
        ports = []
        if self.peer_port is not None:
            ports = ["-p", "tcp", "--sport" if self.chain == "INPUT" else "--dport", str(self.peer_port)]
        elif self.spare_port is not None:
            ports = ["-p", "tcp", "!", "--dport" if self.chain == "INPUT" else "--sport", str(self.spare_port)]
        sample = ["-m", "statistic", "--mode", "random", "--probability", f"{self.share:.6f}"] if self.share < 1 else []
        return [self.chain, direction, self.peer, *ports, *sample, "-m", "comment", "--comment",
                f"{TAG}:{self.fault}", "-j", "DROP"]

    def __str__(self) -> str:
        return f"{f'{self.namespace}: ' if self.namespace else ''}iptables -A {' '.join(self.spec())}"


def command(namespace: Namespace | None, *args: str) -> list[str]:
    iptables = ["iptables", "-w", *args]
    if isinstance(namespace, Netns):
        return ["nsenter", "--target", str(namespace.pid), "--net", "--", *iptables]
    return ["ip", "netns", "exec", namespace, *iptables] if namespace else iptables


def add(rule: Rule, shell: Shell = LOCAL) -> None:
    shell.run(command(rule.namespace, "-A", *rule.spec()))


def delete(rule: Rule, shell: Shell = LOCAL) -> bool:
    return shell.quietly(command(rule.namespace, "-D", *rule.spec()))


def tagged(namespace: Namespace | None, shell: Shell = LOCAL, table: str = "filter") -> list[str]:
    """The kafka-chaos rules in a namespace (or where the shell runs), as `iptables -S` prints them."""
    out = shell.run(command(namespace, "-t", table, "-S"), check=False).stdout
    return [line for line in out.splitlines() if f"{TAG}:" in line]


def dropped(namespace: Namespace, chain: str = "INPUT", shell: Shell = LOCAL) -> int:
    """Packets the kafka-chaos rules of `chain` in `namespace` have dropped so far."""
    out = shell.run(command(namespace, "-L", chain, "-v", "-x", "-n"), check=False).stdout
    return sum(int(line.split()[0]) for line in out.splitlines()[2:] if f"{TAG}:" in line)


def sweep(namespaces: list[Namespace | None], fault: str | None = None, shell: Shell = LOCAL,
          prefix: bool = False, table: str = "filter") -> list[str]:
    """Delete every kafka-chaos rule (of one fault, or all) in these namespaces; returns what was
    removed. With `prefix`, every fault whose id starts with `fault` (a cluster's rules)."""
    removed = []
    for namespace in namespaces:
        for line in tagged(namespace, shell, table):
            args = _unquote(line.split())
            if fault and not any(_matches(a, f"{TAG}:{fault}", prefix) for a in args):
                continue
            if args[0] == "-A" and shell.quietly(command(namespace, "-t", table, "-D", *args[1:])):
                removed.append(f"{shell.where + ': ' if shell.where else ''}"
                               f"{f'{namespace}: ' if namespace else ''}{line}")
    return removed


def _matches(arg: str, wanted: str, prefix: bool) -> bool:
    return arg.startswith(wanted) if prefix else arg == wanted


def _unquote(args: list[str]) -> list[str]:
    return [a.strip('"') for a in args]
