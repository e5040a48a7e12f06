"""Which anomalies fail a run: the semantics table (docs/ARCHITECTURE.md), then the experiment's
overrides.

    at-most-once   fails on duplicates (in the log, in processing, in a transformer's output,
                   over-counted Kafka Streams state); loss and what loss brings (truncated
                   offsets re-used, readers reset, under-counted state) is counted and allowed
    at-least-once  fails on any loss (of writes, processing, output or state); duplicates
                   are counted and allowed
    exactly-once   fails on everything
Phantoms, aborted reads, reads of failed writes and torn transactions fail under every
semantics: each is a write the log should not show (or should show whole). `unseen` (not read,
but beyond what the final read proved) never fails by itself: it is not proof of loss.
"""

from __future__ import annotations

from harness.checker.model import AnomalyKind as K
from harness.checker.model import Policy, PolicySetting, Status
from harness.semantics import Semantics

_ALLOWED: dict[Semantics, set[K]] = {
    Semantics.AT_MOST_ONCE: {K.LOST_WRITE, K.UNSEEN, K.LOST_PROCESSING, K.LOST_OUTPUT, K.INCONSISTENT_OFFSETS,
                             K.POLL_SKIP, K.NONMONOTONIC_POLL, K.NONMONOTONIC_SEND, K.UNDERCOUNTED_STATE,
                             K.REPLICA_LOST_WRITE, K.FAILOVER_SKIP},
    Semantics.AT_LEAST_ONCE: {K.UNSEEN, K.DUPLICATE, K.DUPLICATE_PROCESSING, K.DUPLICATE_OUTPUT,
                              K.OVERCOUNTED_STATE, K.FAILOVER_REPROCESSING},
    Semantics.EXACTLY_ONCE: {K.UNSEEN},
}


def policies(semantics: Semantics, overrides: dict[K, PolicySetting] | None = None) -> dict[K, PolicySetting]:
    table: dict[K, PolicySetting] = {k: Policy.ALLOWED if k in _ALLOWED[semantics] else Policy.FAIL for k in K}
    return table | {K(k): v for k, v in (overrides or {}).items()}


def describe(setting: PolicySetting) -> str:
    return f"at most {setting}" if isinstance(setting, int) and not isinstance(setting, bool) else str(Policy(setting))


def can_fail(setting: PolicySetting) -> bool:
    """Whether some count fails under `setting` (not so for a kind allowed whatever its count)."""
    return isinstance(setting, int) and not isinstance(setting, bool) or Policy(setting) == Policy.FAIL


def status(count: int, setting: PolicySetting) -> Status:
    if count == 0:
        return Status.PASS
    if isinstance(setting, int) and not isinstance(setting, bool):
        return Status.FAIL if count > setting else Status.ALLOWED
    return Status.FAIL if Policy(setting) == Policy.FAIL else Status.ALLOWED
