"""Storage faults: a node's log directory turns read-only (kafkatest's log_dir_failure), or its
disk fills up.

Read-only: a read-only bind mount over the node's data directory, in the node's own mount
namespace: files it creates from then on (checkpoints every few seconds, new segments) fail with EROFS,
and Kafka takes the directory offline; with one log directory per node the broker shuts itself
down. Root ignores file permissions, so a mount, not chmod, makes the directory unwritable.
Healed by unmounting (the mount dies with the process anyway) and starting the node again.

Full disk: the node's data directory is on a small disk of its own (the cluster's `disk_mb`, set
for any experiment with this fault); one file takes every free byte, so Kafka's next append or
checkpoint fails with ENOSPC. Healed by deleting the file and starting the node if it died.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from harness.faults.base import Env, FaultError, FaultSpec, Injected, fault, restart_dead
from harness.faults.targets import Target
from harness.mounts import bind_read_only, empty_disk, fill_disk, is_disk, mounts_under, unmount


@fault
class ReadOnlyLogDir(FaultSpec):
    fault: Literal["read-only-log-dir"] = "read-only-log-dir"
    target: Target

    requires: ClassVar[frozenset[str]] = frozenset({"processes", "mounts"})

    def inject(self, env: Env) -> Injected:
        ids = self.target.resolve(env)
        mounted = []
        for node_id in ids:
            node = env.cluster.node(node_id)
            mounted.append((node.pid, str(node.data_dir)))
            bind_read_only(*mounted[-1])

        def heal() -> str:
            for pid, data in mounted:
                while mounts_under(pid, data) and unmount(pid, data):
                    pass
            return "remounted read-write; " + restart_dead(env, ids)

        return Injected(f"log directory of nodes {ids} read-only", ids,
                        [f"in the mount namespace of pid {p}: mount --bind -o ro {d} {d}" for p, d in mounted], heal)


@fault
class FullDisk(FaultSpec):
    fault: Literal["full-disk"] = "full-disk"
    target: Target

    requires: ClassVar[frozenset[str]] = frozenset({"processes", "mounts"})

    def inject(self, env: Env) -> Injected:
        ids = self.target.resolve(env)
        disks = [env.cluster.node(i).disk_dir for i in ids]
        if not all(is_disk(d) for d in disks):
            raise FaultError(f"nodes {ids} have no disk of their own to fill (the cluster's disk_mb is not set)")
        filled = [fill_disk(d) for d in disks]

        def heal() -> str:
            for disk in disks:
                empty_disk(disk)
            return "disks emptied; " + restart_dead(env, ids)

        return Injected(f"disk of nodes {ids} full", ids,
                        [f"fallocate {size} bytes at {d}" for d, size in zip(disks, filled)], heal)

