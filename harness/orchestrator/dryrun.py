"""`kafka-chaos run --dry-run`: every command a run would run, per host, and nothing run at all.

The experiment's cluster is built with shells that only write commands down (no SSH connection
is opened, no Kafka client connects), then the run's steps that touch hosts are played in order:
the checks before anything starts, the sweep of what a killed harness left, each planned fault's
injection and heal at its time, the final sweep. A target the cluster decides at run time (the
leader of a partition, the controller) is shown for each node it could be.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from harness.cluster import backends
from harness.cluster.backend import Capability
from harness.cluster.backends import BackendName
from harness.errors import KafkaChaosError
from harness.experiment.model import Experiment
from harness.faults import Env, heal_leftovers
from harness.faults.targets import Target
from harness.net.shell import Recorder
from harness.orchestrator.plan import RunPlan
from harness.rundir import RunDir

THIS_MACHINE = "this machine"


@dataclass
class _Notes:
    """An event log that writes into every shell's list, so each host shows what happens when."""

    shells: list[Recorder] = field(default_factory=list)

    def record(self, source: str, kind: str, text: str, **fields) -> None:
        self.note(text)

    def note(self, text: str) -> None:
        for shell in self.shells:
            shell.note(text)


def dry_run(experiment: Experiment, seed: int | None = None) -> dict[str, list[str]]:
    """Per host (and this machine), every command a run of `experiment` would run, in order."""
    backend = BackendName(experiment.cluster.backend)
    if backend in (BackendName.LOCAL, BackendName.DOCKER):
        return {THIS_MACHINE: [f"# the {backend} backend starts its own cluster on this machine: no hosts are touched"]}
    plan = RunPlan.of(experiment, "<dry-run>", RunDir(Path("dry-run")), seed)
    cluster = backends.create(backend, plan.cluster, Path("."), dry_run=True)
    shells = [*getattr(cluster, "shells", {}).values(), cluster.here]
    notes = _Notes(shells)
    for node in getattr(cluster, "nodes", {}).values():
        node.shell.note(f"connect over SSH to {_login(plan.cluster, node.host)} ({_host_key(plan.cluster, node.host)})")
    notes.note("before the run: check every host, remove what a killed harness left")
    if hasattr(cluster, "preflight"):
        cluster.preflight()
    cluster.sweep_rules()
    if plan.cluster.proxy.clients:
        cluster.here.note("start Toxiproxy (a proxy per broker) and redirect this machine's connections to each "
                          "broker's advertised address through it: iptables -t nat -A OUTPUT ... -j DNAT")
        cluster.client_path.toxiproxy = _Toxics(cluster.here)
    env = Env(cluster=cluster, events=notes, rng=random.Random(plan.seed))
    for planned in plan.faults:
        notes.note(f"at {planned.start:g} s of the fault phase: {planned.fault.name} "
                   f"{planned.fault.model_dump(mode='json', exclude={'fault'}, exclude_none=True)}")
        for fault, which in _aimed(planned.fault, cluster.node_ids):
            if which:
                notes.note(which)
            heal = _inject(env, fault, notes)
            notes.note(f"at {planned.end:g} s: heal {fault.name}")
            if heal:
                _try(heal, notes)
    notes.note("after the faults: heal whatever is left (sweeps), fetch each broker's log from its run start "
               "(SFTP), and read the segment files of partitions with missing writes (SFTP)")
    heal_leftovers(cluster)
    notes.note("at the end: remove every rule this run added")
    cluster.sweep_rules()
    if not plan.cluster.proxy.clients and not any(not c.startswith("#") for c in cluster.here.commands):
        shells.remove(cluster.here)  # nothing happens on this machine
    return {shell.where: shell.commands for shell in shells}


@dataclass
class _Toxics:
    """A dry run's Toxiproxy: says what it would add and remove."""

    shell: Recorder
    process = None  # nothing to sweep: nothing ran

    def add_toxic(self, proxy: str, toxic: str, kind: str, attributes: dict, stream: str) -> None:
        self.shell.note(f"toxiproxy: add toxic {toxic} ({kind} {attributes}, {stream}) to proxy {proxy}")

    def remove_toxic(self, proxy: str, toxic: str) -> bool:
        self.shell.note(f"toxiproxy: remove toxic {toxic} from proxy {proxy}")
        return True


def _aimed(fault, nodes: list[int]):
    """The fault as it runs: aimed at each node in turn when its target is decided at run time."""
    target = getattr(fault, "target", None)
    if isinstance(target, Target) and (target.leader or target.followers or target.pick == "controller"):
        return [(fault.model_copy(update={"target": Target(node=n)}), f"if {target} is node {n}:") for n in nodes]
    return [(fault, "")]


def _inject(env: Env, fault, notes: _Notes):
    if hasattr(fault, "worker"):
        notes.note(f"(on this machine: {fault.name} signals worker {fault.worker}'s process; no host is touched)")
        return None
    if fault.capabilities() & {Capability.TOPOLOGY, Capability.QUORUM}:
        notes.note(f"({fault.name} asks the cluster as it goes: its commands are decided at run time)")
        return None
    try:
        return fault.inject(env).heal
    except KafkaChaosError as exc:
        notes.note(f"(the rest is decided at run time: {exc})")
        return None


def _try(heal, notes: _Notes) -> None:
    try:
        heal()
    except KafkaChaosError as exc:
        notes.note(f"(decided at run time: {exc})")


def _login(config, host) -> str:
    return f"{host.user or config.ssh.user}@{host.address}:{host.port or config.ssh.port}" + \
        (" with sudo" if config.ssh.sudo else "")


def _host_key(config, host) -> str:
    if host.host_key:
        return f"host key must be {host.host_key}"
    if config.ssh.check_host_keys:
        return f"host key checked against {config.ssh.known_hosts or '~/.ssh/known_hosts'}"
    return "host key NOT checked (check_host_keys: false)"


def render(experiment: Experiment, commands: dict[str, list[str]]) -> str:
    lines = [f"{experiment.name}: dry run, nothing is run"]
    for where, listed in commands.items():
        lines.append(f"  {where}:")
        lines += [f"    {line}" for line in listed] or ["    (nothing)"]
    return "\n".join(lines)
