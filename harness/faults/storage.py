"""Storage faults: a node's log directory turns read-only (kafkatest's log_dir_failure), or its
disk fills up.

Read-only: files the node creates from then on (checkpoints every few seconds, new segments)
fail with EROFS, and Kafka takes the directory offline; with one log directory per node the
broker shuts itself down. Healed by making it writable and starting the node again.

Full disk: the node's data directory is on a small disk of its own (the fault provisions it);
one file takes every free byte, so Kafka's next append or checkpoint fails with ENOSPC. Healed
by emptying the disk and starting the node if it died.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from harness.cluster.backend import Backend, Capability
from harness.faults.base import Env, FaultError, FaultSpec, Injected, Provisions, fault, restart_dead, sweep
from harness.faults.targets import Target


class StorageFault(FaultSpec):
    needs: ClassVar = frozenset({Capability.PROCESSES, Capability.DISKS})
    target: Target


@fault
class ReadOnlyLogDir(StorageFault):
    fault: Literal["read-only-log-dir"] = "read-only-log-dir"

    def inject(self, env: Env) -> Injected:
        ids = self.target.resolve(env)
        applied = [env.disks.make_read_only(node) for node in ids]

        def heal() -> str:
            for node in ids:
                env.disks.make_writable(node)
            return "remounted read-write; " + restart_dead(env, ids)

        return Injected(f"log directory of nodes {ids} read-only", ids, applied, heal)


@fault
class FullDisk(StorageFault):
    fault: Literal["full-disk"] = "full-disk"

    def provisions(self) -> Provisions:
        return Provisions(own_disks=True)

    def inject(self, env: Env) -> Injected:
        ids = self.target.resolve(env)
        if not all(env.disks.has_own_disk(node) for node in ids):
            raise FaultError(f"nodes {ids} have no disk of their own to fill (the cluster's disk_mb is not set)")
        applied = [env.disks.fill_disk(node) for node in ids]

        def heal() -> str:
            for node in ids:
                env.disks.empty_disk(node)
            return "disks emptied; " + restart_dead(env, ids)

        return Injected(f"disk of nodes {ids} full", ids, applied, heal)


@sweep(Capability.DISKS)
def disks(cluster: Backend) -> list[str]:
    return cluster.sweep_disks()
