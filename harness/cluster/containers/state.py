"""The record of a docker cluster, and the sweep that removes whatever one left.

The truth about what a cluster made is in Docker: every container, network and volume carries the
label kafka-chaos.cluster=<name>, so `sweep` finds it all even when the harness that made it was
SIGKILLed before it could write anything down, and never touches an object without the label.
The state file (in the state folder's docker/) adds what Docker cannot say: the spec the cluster
was asked with, the process it belongs to, its Toxiproxy server and, for a compose project taken
over, which nodes were running when it was.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from harness import files, mounts, paths
from harness.cluster.containers.engine import CLUSTER_LABEL, client, label_filter
from harness.cluster.spec import ClusterSpec
from harness.cluster.state import ProcessRecord
from harness.process import ProcessRef


class ContainerState(BaseModel):
    spec: ClusterSpec
    workdir: Path
    cluster_id: str
    image: str | None = None
    kafka_version: str
    owner: ProcessRecord | None = None  # the harness it dies with; None: left running on purpose
    toxiproxy: ProcessRecord | None = None
    running_at_attach: list[int] = []  # a compose project's nodes that ran when it was taken over

    @property
    def name(self) -> str:
        return self.spec.name


def record(process: ProcessRef | None) -> ProcessRecord | None:
    return ProcessRecord(pid=process.pid, create_time=process.create_time) if process else None


def folder() -> Path:
    return paths.state_dir() / "docker"  # apart from the local backend's files


def state_file(name: str) -> Path:
    return folder() / f"{name}.json"


def save(state: ContainerState) -> None:
    """Atomically (a reader or a crash never sees half a file), and private: it holds the spec."""
    path = state_file(state.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_text(path, state.model_dump_json(indent=2), private=True)


def read_state(name: str) -> ContainerState | None:
    try:
        return ContainerState.model_validate(json.loads(state_file(name).read_text()))
    except FileNotFoundError:
        return None


def known_clusters() -> list[str]:
    return sorted(p.stem for p in folder().glob("*.json")) if folder().is_dir() else []


def labelled_clusters() -> list[str]:
    """Clusters that have anything in Docker (containers, networks, volumes)."""
    engine, wanted = client(), label_filter(None)
    found = [c.labels.get(CLUSTER_LABEL) for c in engine.containers.list(all=True, filters=wanted)]
    found += [n.attrs["Labels"].get(CLUSTER_LABEL) for n in engine.networks.list(filters=wanted)]
    found += [v.attrs["Labels"].get(CLUSTER_LABEL) for v in engine.volumes.list(filters=wanted)]
    return sorted({name for name in found if name})


def sweep(cluster: str | None = None) -> list[str]:
    """Remove every container, network and volume labelled for `cluster` (or for any kafka-chaos
    cluster), its Toxiproxy, its disks and its state file; what was removed. Containers without
    the label, a compose project's among them, are never touched."""
    from docker.errors import NotFound

    names = [cluster] if cluster else sorted(set(known_clusters()) | set(labelled_clusters()))
    engine, removed = client(), []
    for name in names:
        wanted = label_filter(name)
        for container in engine.containers.list(all=True, filters=wanted):
            try:
                container.remove(force=True, v=True)
                removed.append(f"container {container.name}")
            except NotFound:
                continue
        for network in engine.networks.list(filters=wanted):
            network.remove()
            removed.append(f"network {network.name}")
        for volume in engine.volumes.list(filters=wanted):
            volume.remove(force=True)
            removed.append(f"volume {volume.name}")
        recorded = read_state(name)
        if recorded and recorded.toxiproxy:
            proxy = ProcessRef(recorded.toxiproxy.pid, recorded.toxiproxy.create_time)
            if proxy.alive:
                proxy.kill()
                removed.append(f"toxiproxy {proxy.pid}")
        removed += mounts.remove_disks(name)  # once no container holds them
        if state_file(name).exists():
            state_file(name).unlink(missing_ok=True)
            removed.append(f"state {name}")
    return removed
