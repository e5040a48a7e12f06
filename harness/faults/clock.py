"""Clock skew: one node's wall clock jumps away from the others'; healed by jumping it back. libfaketime is preloaded into every node's JVM (the fault provisions it) reading its
offset from a file of its own, so only that node's clock moves (harness/cluster/faketime.py).

What a skewed broker clock touches: LogAppendTime record timestamps and the time index, time-based
retention and segment rolling (log.retention.ms, segment.ms), transaction timeouts (the
coordinator aborts a transaction whose start, on its own clock, lies more than
transaction.timeout.ms back), producer id expiration, group session bookkeeping in the log;
Kafka's own timeouts that use the monotonic clock keep real time.

Left behind by a dead harness: a clock file still offset (the sweep writes it back to zero).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from harness.cluster.backend import Backend, Capability
from harness.faults.base import Env, FaultError, FaultSpec, Injected, Provisions, fault, node_list, sweep
from harness.faults.targets import Target

TEN_YEARS_S = 10 * 365 * 86400


@fault
class ClockSkew(FaultSpec):
    """Move the target nodes' wall clocks by `offset_s` (negative: into the past); they run at real
    speed from there. Healed by jumping them back."""

    fault: Literal["clock-skew"] = "clock-skew"
    needs: ClassVar = frozenset({Capability.CLOCKS})
    target: Target
    offset_s: float = Field(ge=-TEN_YEARS_S, le=TEN_YEARS_S, description="seconds ahead (negative: behind)")

    def provisions(self) -> Provisions:
        return Provisions(faketime=True)

    def inject(self, env: Env) -> Injected:
        ids = self.target.resolve(env)
        clocks = env.clocks
        if not all(clocks.has_fake_clock(node) for node in ids):
            raise FaultError(f"{node_list(ids)}: no clock of their own (the cluster was not provisioned for clock-skew)")
        applied = [clocks.skew_clock(node, self.offset_s) for node in ids]

        def heal() -> str:
            for node in ids:
                clocks.reset_clock(node)
            return f"clocks of {node_list(ids)} back to the real time"

        return Injected(f"clock of {node_list(ids)} {self.offset_s:+g} s", ids, applied, heal)


@sweep(Capability.CLOCKS)
def clocks(cluster: Backend) -> list[str]:
    return cluster.sweep_clocks()
