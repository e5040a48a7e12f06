"""What a docker cluster may leave behind: everything Docker holds with its label, its disks,
its state file."""

from __future__ import annotations

from harness import mounts
from harness.cluster.containers import state as store
from harness.cluster.containers.engine import client, label_filter


def docker_leftovers(name: str) -> list[str]:
    engine, wanted = client(), label_filter(name)
    found = [f"container {c.name}" for c in engine.containers.list(all=True, filters=wanted)]
    found += [f"network {n.name}" for n in engine.networks.list(filters=wanted)]
    found += [f"volume {v.name}" for v in engine.volumes.list(filters=wanted)]
    found += [f"disk {d}" for d in mounts.disks(name)]
    if store.state_file(name).exists():
        found.append("state file")
    return found
