"""Judging a mirror (pure): what the replica holds against what the primary acknowledged, and
where a consumer failing over to the replica resumes.

- Replication: every write the primary acknowledged must be on the replica (a `lost-write` when
  not). When the primary was lost mid-run, what had not reached the replica yet is the recovery
  point: counted and aged (RPO, seconds from the oldest write it lost to the loss), and not a
  lost write, since replication is asynchronous by design.
- Failover: a group's consumer moving to the replica resumes at the offset MirrorMaker synced
  into the replica's group (translated from the primary's commit), or, without one, wherever its
  `auto.offset.reset` sends it. What it then reads again that the group had processed is
  reprocessing (`duplicate-processing` beyond `max_reprocessed`); what lies below the resume
  point that the group never processed is skipped (`lost-processing`, never allowed).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

from pydantic import BaseModel

from harness.checker.model import AnomalyKind


class Replication(BaseModel):
    acknowledged: int  # writes the primary acknowledged
    replicated: int  # of those, found on the replica
    missing: list  # acknowledged, not on the replica (ids, oldest first)
    primary_lost: bool
    rpo_records: int | None = None  # when the primary was lost: what the replica never got
    rpo_age: float | None = None  # ... and how old the oldest of it was at the loss (in the times' unit)
    after_loss: int = 0  # acknowledged after the loss (by a primary the run had given up): not judged
    anomalies: dict[str, int] = {}  # kind -> count that fails

    @property
    def passed(self) -> bool:
        return not self.anomalies


def replication(acked: Mapping[Hashable, float], replica: set, lost_at: float | None = None) -> Replication:
    """`acked`: id -> when the primary acknowledged it; `replica`: the ids the replica holds;
    `lost_at`: when the primary was lost (None: it lived)."""
    missing = sorted((i for i in acked if i not in replica), key=lambda i: (acked[i], str(i)))
    result = Replication(acknowledged=len(acked), replicated=len(acked) - len(missing), missing=missing,
                         primary_lost=lost_at is not None)
    if lost_at is None:
        if missing:
            result.anomalies = {AnomalyKind.LOST_WRITE.value: len(missing)}
        return result
    before = [i for i in missing if acked[i] <= lost_at]
    result.rpo_records = len(before)
    result.rpo_age = lost_at - acked[before[0]] if before else 0
    result.after_loss = sum(1 for t in acked.values() if t > lost_at)
    return result


class Failover(BaseModel):
    resumed_at: dict[int, int]  # partition -> the replica offset the consumer started from
    reprocessed_ids: list  # records the group had processed on the primary, read again on the replica
    skipped: list  # records below the resume point the group never processed (ids)
    max_reprocessed: int
    anomalies: dict[str, int] = {}

    @property
    def reprocessed(self) -> int:
        return len(self.reprocessed_ids)

    @property
    def passed(self) -> bool:
        return not self.anomalies


def failover(replica_log: Mapping[int, Sequence[tuple[int, Hashable]]], resume: Mapping[int, int], processed: set,
             max_reprocessed: int = 0) -> Failover:
    """`replica_log`: partition -> the replica topic's (offset, id)s; `resume`: partition -> where
    the failed-over consumer starts reading; `processed`: what the group processed on the primary
    before it failed over."""
    again, skipped = [], []
    for partition, entries in replica_log.items():
        start = resume.get(partition, 0)
        again += [i for offset, i in entries if offset >= start and i in processed]
        skipped += [i for offset, i in entries if offset < start and i not in processed]
    result = Failover(resumed_at=dict(resume), reprocessed_ids=again, skipped=skipped,
                      max_reprocessed=max_reprocessed)
    anomalies = {}
    if len(again) > max_reprocessed:
        anomalies[AnomalyKind.DUPLICATE_PROCESSING.value] = len(again)
    if skipped:
        anomalies[AnomalyKind.LOST_PROCESSING.value] = len(skipped)
    result.anomalies = anomalies
    return result
