"""The record of what a local cluster created, kept outside the process that created it.

`cluster up` leaves a cluster running after it exits, and a harness can be SIGKILLed, so the
pids, namespaces and bridge live in a state file. Every JVM also carries a marker argument
(`-Dkafka.chaos.cluster=<name>`), so even a process started just before a crash, too late to be
written down, is found by a sweep.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import psutil
from pydantic import BaseModel

from harness import files, mounts, paths
from harness.cluster.layout import toxiproxy_port
from harness.cluster.spec import ClusterSpec, NetworkMode
from harness.kafkaproxy import client as kafkaproxy
from harness.lazyfs import mount as lazy
from harness.net import lab, toxiproxy
from harness.process import ProcessRef

MARKER = "-Dkafka.chaos.cluster="


class ProcessRecord(BaseModel):
    pid: int
    create_time: float


HELPERS = {"harness.workload": "worker", "harness.observe": "observer"}  # `python -m` processes of a harness


class ClusterState(BaseModel):
    spec: ClusterSpec
    network: NetworkMode  # resolved: namespaces or loopback
    workdir: Path
    cluster_id: str
    kafka_version: str
    kafka_libs: Path
    java: Path
    processes: dict[int, ProcessRecord] = {}
    toxiproxy: ProcessRecord | None = None
    owner: ProcessRecord | None = None  # the harness it dies with; None: left running on purpose

    @property
    def name(self) -> str:
        return self.spec.name


def state_file(name: str) -> Path:
    return paths.state_dir() / f"{name}.json"


def save(state: ClusterState) -> None:
    """Atomically (a reader or a crash never sees half a file), and private: it holds the spec."""
    path = state_file(state.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_text(path, state.model_dump_json(indent=2), private=True)


def read_state(name: str) -> ClusterState | None:
    path = state_file(name)
    try:
        return ClusterState.model_validate(json.loads(path.read_text()))
    except FileNotFoundError:
        return None


def forget(name: str) -> None:
    state_file(name).unlink(missing_ok=True)


def known_clusters() -> list[str]:
    directory = paths.state_dir()
    return sorted(p.stem for p in directory.glob("*.json")) if directory.is_dir() else []


def marked_processes(cluster: str | None = None) -> list[psutil.Process]:
    """Running JVMs that carry the marker of `cluster` (or of any kafka-chaos cluster)."""
    wanted = f"{MARKER}{cluster}" if cluster else MARKER
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if any(arg == wanted or (cluster is None and arg.startswith(MARKER)) for arg in cmdline):
            found.append(proc)
    return found


def _our_toxiproxies(ports: set[int] | None) -> list[psutil.Process]:
    """Toxiproxy servers running the binary this project built, on `ports` (None: any)."""
    ours = str(toxiproxy.cached_binary())
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or [""]
        port = int(cmdline[cmdline.index("-port") + 1]) if "-port" in cmdline[:-1] else None
        if cmdline[0] == ours and (ports is None or port in ports):
            found.append(proc)
    return found


def sweep(cluster: str | None = None) -> list[str]:
    """SIGKILL marked processes, remove lab namespaces and bridges, forget state files.

    For leftovers of a dead harness; a live cluster is better stopped gracefully first.
    Returns a description of each thing removed.
    """
    removed = []
    recorded = [r for r in (read_state(name) for name in ([cluster] if cluster else known_clusters())) if r]
    strays = [ProcessRef(r.toxiproxy.pid, r.toxiproxy.create_time) for r in recorded if r.toxiproxy]
    ports = None if cluster is None else {toxiproxy_port(r.spec) for r in recorded}
    strays += [ProcessRef.of_process(p) for p in _our_toxiproxies(ports)]
    for stray in strays:
        if stray.alive:
            stray.kill()
            removed.append(f"toxiproxy {stray.pid}")
    removed += kafkaproxy.stop_all(cluster)
    if cluster is None:  # workers and observers left by a dead harness (a paused one never notices it died)
        for proc in psutil.process_iter(["cmdline"]):
            module = next((m for m in HELPERS if m in (proc.info["cmdline"] or [])), None)
            if module:
                proc.kill()
                removed.append(f"{HELPERS[module]} {proc.pid}")
    killed = []
    for proc in marked_processes(cluster):  # all killed first: a JVM takes a second or two to go
        try:
            proc.send_signal(signal.SIGKILL)
            killed.append(proc)
        except psutil.NoSuchProcess:
            pass
    gone, _ = psutil.wait_procs(killed, timeout=10)
    removed += [f"process {proc.pid}" for proc in gone]
    removed += lazy.sweep(cluster)  # its writes kept: nothing else is a power loss
    removed += mounts.remove_disks(cluster)  # once no process holds them
    removed += lab.sweep(cluster)
    for name in [cluster] if cluster else known_clusters():
        if state_file(name).exists():
            forget(name)
            removed.append(f"state {name}")
    return removed
