"""A mirrored run (harness.mirror): what the replica held against what the primary acknowledged,
and where each consumer group, failing over to the replica, resumed (from `mirror/`).

replica-lost-write: an acknowledged write (outside transactions or in a committed one) not on
the replica. When the primary was lost (`lose-primary`), what the replica lacks of the writes
acknowledged before the loss is the recovery point, reported in the note (count, and the age of
the oldest at the loss), not an anomaly; writes after the loss went to a primary the run had
already given up, and are not judged.
failover-reprocessing / failover-skip: per group, the records of the replica from where its
failed-over consumer started that the group had processed on the primary, and those below it
that it never processed (harness.mirror.check.failover).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checker.context import Context
from harness.checker.evidence import label, rich, vid_label
from harness.checker.invariants.processing import _groups
from harness.checker.model import AnomalyKind
from harness.checker.registry import Finding, evidence, invariant, not_applicable
from harness.history.load import value_id
from harness.mirror import check
from harness.mirror.replica import ReplicaError, read
from harness.rundir import RunDir

KINDS = (AnomalyKind.REPLICA_LOST_WRITE, AnomalyKind.FAILOVER_REPROCESSING, AnomalyKind.FAILOVER_SKIP)


def lost_at(ctx: Context) -> int | None:
    """When the primary was lost (the first lose-primary's inject), in the run's monotonic ns."""
    found = [e["mono"] for e in ctx.run_events
             if e.get("source") == "fault" and e.get("kind") == "inject" and e.get("fault") == "lose-primary"]
    return min(found) if found else None


@invariant(*KINDS)
def mirrored(ctx: Context) -> list[Finding]:
    if not RunDir.of(ctx.run_dir).mirror_replica.exists():
        return [not_applicable(kind, "no mirror") for kind in KINDS]
    try:
        records, resumed = read(ctx.run_dir)
    except ReplicaError as exc:
        return [Finding(kind, True, unknown=True, note=f"the replica cannot be judged: {exc}") for kind in KINDS]
    return [_replication(ctx, records), *_failovers(ctx, records, resumed)]


def _replication(ctx: Context, records: pd.DataFrame) -> Finding:
    sends = ctx.must_be_visible
    held = set(value_id(records["producer"], records["seq"]).tolist())
    vids, acked_at = sends["vid"].to_numpy(), sends["complete_mono"].to_numpy()
    loss = lost_at(ctx)
    judged = check.replication(dict(zip(vids.tolist(), acked_at.tolist())), held, loss)
    if judged.primary_lost:
        note = (f"primary lost at {ctx.seconds(loss):.2f} s: {judged.rpo_records} acknowledged writes never reached "
                f"the replica (RPO), the oldest acknowledged {judged.rpo_age / 1e9:.3f} s before the loss")
        return Finding(AnomalyKind.REPLICA_LOST_WRITE, True, note=note)
    rows = sends[np.isin(vids, np.asarray(judged.missing, np.int64))]
    rows = rows[["producer", "seq", "topic", "partition", "offset", "complete_mono"]].reset_index(drop=True)
    note = f"{judged.replicated} of {judged.acknowledged} acknowledged writes on the replica"
    return Finding(AnomalyKind.REPLICA_LOST_WRITE, True, rows, note=note)


def _failovers(ctx: Context, records: pd.DataFrame, resumed: dict) -> list[Finding]:
    groups = _groups([*ctx.readers_with("consumer"), *ctx.readers_with("transformer")])
    judged = {g: m for g, m in groups.items() if g in resumed}
    if not judged:
        note = "no consumer group failed over (only consumers' and transformers' groups do)"
        return [not_applicable(AnomalyKind.FAILOVER_REPROCESSING, note), not_applicable(AnomalyKind.FAILOVER_SKIP, note)]
    again, skipped = [], []
    for group, members in judged.items():
        processed = set(ctx.reads_by(members)["vid"].tolist())
        for topic, resume in resumed[group].items():
            mine = records[records["topic"] == topic].sort_values(["partition", "offset"])
            log = {int(p): list(zip(rows["offset"].tolist(), value_id(rows["producer"], rows["seq"]).tolist()))
                   for p, rows in mine.groupby("partition")}
            found = check.failover(log, resume, processed, max_reprocessed=len(mine))
            again += [(group, topic, vid) for vid in found.reprocessed_ids]
            skipped += [(group, topic, vid) for vid in found.skipped]
    columns = ["group", "topic", "vid"]
    return [Finding(AnomalyKind.FAILOVER_REPROCESSING, True, pd.DataFrame(again, columns=columns)),
            Finding(AnomalyKind.FAILOVER_SKIP, True, pd.DataFrame(skipped, columns=columns))]


@evidence(AnomalyKind.REPLICA_LOST_WRITE)
def replica_lost_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    def build(row) -> dict:
        what = label(row.producer, row.seq)
        return {"value": what, "topic": str(row.topic), "partition": int(row.partition), "offset": int(row.offset),
                "acked_at_s": ctx.seconds(row.complete_mono),
                "explanation": f"{what} acknowledged by the primary at {row.topic}-{row.partition}@{row.offset} "
                               f"({ctx.seconds(row.complete_mono):.2f} s), and not on the replica after MirrorMaker "
                               "caught up or stopped"}

    return rich(ctx, rows, build)


def _failover_evidence(ctx: Context, rows: pd.DataFrame, what: str) -> list[dict]:
    def build(row) -> dict:
        value = vid_label(row.vid)
        return {"group": str(row.group), "topic": str(row.topic), "value": value,
                "explanation": f"group {row.group}, failing over to the replica's copy of {row.topic}, {what} {value}"}

    return rich(ctx, rows, build)


@evidence(AnomalyKind.FAILOVER_REPROCESSING)
def failover_reprocessing_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    return _failover_evidence(ctx, rows, "read again what it had processed on the primary:")


@evidence(AnomalyKind.FAILOVER_SKIP)
def failover_skip_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    return _failover_evidence(ctx, rows, "started past what it never processed:")
