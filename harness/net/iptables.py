"""DROP rules inside lab namespaces, each tagged with a comment naming the fault that added it,
so a heal removes exactly its own rules and a sweep finds any a dead harness left."""

from __future__ import annotations

from dataclasses import dataclass

from harness.net.command import quietly, run

TAG = "kafka-chaos"


@dataclass(frozen=True)
class Rule:
    namespace: str
    chain: str  # INPUT or OUTPUT
    peer: str  # address dropped: the source (INPUT) or the destination (OUTPUT)
    fault: str  # id of the fault that added it
    share: float = 1.0  # of the packets dropped, at random (the statistic match): netem is absent here

    def spec(self) -> list[str]:
        direction = "-s" if self.chain == "INPUT" else "-d"
        sample = ["-m", "statistic", "--mode", "random", "--probability", f"{self.share:.6f}"] if self.share < 1 else []
        return [self.chain, direction, self.peer, *sample, "-m", "comment", "--comment", f"{TAG}:{self.fault}",
                "-j", "DROP"]

    def __str__(self) -> str:
        return f"{self.namespace}: {' '.join(self.spec())}"


def _iptables(namespace: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", namespace, "iptables", "-w", *args]


def add(rule: Rule) -> None:
    run(_iptables(rule.namespace, "-A", *rule.spec()))


def delete(rule: Rule) -> bool:
    return quietly(_iptables(rule.namespace, "-D", *rule.spec()))


def tagged(namespace: str) -> list[str]:
    """The kafka-chaos rules in a namespace, as `iptables -S` prints them."""
    out = run(_iptables(namespace, "-S"), check=False).stdout
    return [line for line in out.splitlines() if f"{TAG}:" in line]


def sweep(namespaces: list[str], fault: str | None = None) -> list[str]:
    """Delete every kafka-chaos rule (of one fault, or all) in these namespaces; returns what was removed."""
    removed = []
    for namespace in namespaces:
        for line in tagged(namespace):
            if fault and f"{TAG}:{fault}" not in _unquote(line.split()):
                continue
            args = line.split()
            if args[0] == "-A" and quietly(_iptables(namespace, "-D", *_unquote(args[1:]))):
                removed.append(f"{namespace}: {line}")
    return removed


def _unquote(args: list[str]) -> list[str]:
    return [a.strip('"') for a in args]
