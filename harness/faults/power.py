"""Power loss: a node loses every write it had not fsynced, then comes back.

Kafka acknowledges a write once it is in the replicas' page cache and leaves fsync to the OS
(flush.messages and flush.ms are off by default); a power cut of every replica at once (a rack)
can lose acknowledged writes, which replication alone never does. Each node's data directory
is on lazyfs (the fault provisions it, harness/lazyfs/), which keeps what was written since each
file's last fsync apart. The fault kills every target first (one moment for all of them), then
drops their unsynced writes; the nodes stay down until the heal starts them.

Left behind by a dead harness: a data directory without its lazyfs daemon (mounted again by
the sweep, before the process sweep starts the node).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from harness.cluster.backend import Backend, Capability
from harness.faults.base import Env, FaultError, FaultSpec, Injected, Provisions, fault, node_list, restart_dead, sweep
from harness.faults.targets import Target


@fault
class PowerLoss(FaultSpec):
    """The target nodes lose power at the same moment: SIGKILL, and every write not fsynced is
    gone. Healed by starting them (power back). Targets: a node, `minority`, `majority`, `all`..."""

    fault: Literal["power-loss"] = "power-loss"
    needs: ClassVar = frozenset({Capability.PROCESSES, Capability.POWER})
    target: Target

    def provisions(self) -> Provisions:
        return Provisions(lazyfs=True)

    def inject(self, env: Env) -> Injected:
        ids = self.target.resolve(env)
        power = env.power
        if not all(power.has_lazy_disk(node) for node in ids):
            raise FaultError(f"{node_list(ids)}: data directory not on lazyfs (the cluster was not provisioned "
                             "for power-loss)")
        pids = {node: env.processes.node(node).pid for node in ids}
        for node in ids:  # all at once: a correlated failure, not one after another
            env.processes.node(node).kill()
        applied = [f"SIGKILL pid {pids[node]}" for node in ids] + [power.lose_power(node) for node in ids]
        return Injected(f"power loss of {node_list(ids)} ({self.target}): unsynced writes dropped", ids, applied,
                        lambda: "power back: " + restart_dead(env, ids))


@sweep(Capability.POWER)
def lazy_disks(cluster: Backend) -> list[str]:
    return cluster.sweep_power()
