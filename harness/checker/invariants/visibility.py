"""Did every acknowledged write stay readable? lost-write, unseen, torn-transaction.

Conservative like Jepsen's: a write is lost only below the end a final reader proved it read
(between that reader's log start and end), and only if no reader ever saw it. Indeterminate
writes are not judged. A committed transaction of which the read_committed final read saw some
records but not others is torn; its missing records are reported there, not as lost writes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checker.context import READ_COMMITTED, Context
from harness.checker.evidence import cluster_context, label, on_disk, rich, send_facts, vid_label
from harness.checker.model import AnomalyKind
from harness.checker.registry import Finding, evidence, invariant, not_applicable

KINDS = (AnomalyKind.LOST_WRITE, AnomalyKind.UNSEEN, AnomalyKind.TORN_TRANSACTION)


@invariant(*KINDS)
def visibility(ctx: Context) -> list[Finding]:
    if not ctx.readers_with("final"):
        return [not_applicable(kind, "no final read") for kind in KINDS]
    torn = torn_transactions(ctx)
    visible = ctx.must_be_visible
    missing = ctx.history.sends[ctx.visible_mask & ~ctx.seen_anywhere]
    if not torn.empty:
        in_torn = pd.MultiIndex.from_frame(missing[["producer", "txn"]]).isin(
            pd.MultiIndex.from_frame(torn[["producer", "txn"]]))
        missing = missing[~in_torn]
    covered = ctx.covered(missing)
    nothing_proven = not (ctx.proofs["end"] >= 0).any()
    lost = Finding(AnomalyKind.LOST_WRITE, True, missing[covered],
                   unknown=nothing_proven and not visible.empty,
                   note="the final read proved no partition's end" if nothing_proven else "")
    unseen = Finding(AnomalyKind.UNSEEN, True, missing[~covered])
    return [lost, unseen, torn_finding(ctx, torn)]


def torn_transactions(ctx: Context) -> pd.DataFrame:
    """Transactions the read_committed final read saw partly, within what it proved it read."""
    columns = ["producer", "txn", "worker", "state", "covered", "visible", "missing"]
    if ctx.history.transactions.empty or not ctx.readers_with("final", READ_COMMITTED):
        return pd.DataFrame(columns=columns)
    sends = ctx.history.sends
    seen = ctx.seen_by(ctx.reads_by(ctx.readers_with("final", READ_COMMITTED))) > 0
    in_txn = ((sends["txn"] > 0) & (sends["outcome"] == "ok")).to_numpy()
    members = sends[in_txn].copy()
    members["seen"] = seen[in_txn]
    members["state"] = ctx.txn_states_of(members)
    members = members[members["state"].isin(["committed", "aborted"])]
    members = members[ctx.covered(members, READ_COMMITTED)]
    grouped = members.groupby(["producer", "txn"], observed=True)
    summary = grouped.agg(worker=("worker", "first"), state=("state", "first"),
                          covered=("seen", "size"), visible=("seen", "sum")).reset_index()
    summary = summary[(summary["visible"] > 0) & (summary["visible"] < summary["covered"])]
    missing = members[~members["seen"]].groupby(["producer", "txn"])["vid"].apply(list)
    summary["missing"] = [missing.get((p, t), []) for p, t in zip(summary["producer"], summary["txn"])]
    return summary[columns].reset_index(drop=True)


def torn_finding(ctx: Context, torn: pd.DataFrame) -> Finding:
    if ctx.history.transactions.empty:
        return not_applicable(AnomalyKind.TORN_TRANSACTION, "no transactions")
    if not ctx.readers_with("final", READ_COMMITTED):
        return not_applicable(AnomalyKind.TORN_TRANSACTION, "no read_committed final read")
    return Finding(AnomalyKind.TORN_TRANSACTION, True, torn)


def _missing_write(ctx: Context, row, why: str) -> dict:
    facts = send_facts(ctx, row)
    proofs = ctx.proofs[(ctx.proofs["topic"] == str(row.topic)) & (ctx.proofs["partition"] == int(row.partition))]
    facts["final_reads"] = [
        {"reader": p.worker, "log_start": int(p.log_start), "proven_end": int(p.end)} for p in proofs.itertuples()]
    facts["explanation"] = (f"{facts['value']} acknowledged at {row.topic}-{row.partition}@{row.offset} "
                            f"({facts.get('acked_at_s')} s) {why}")
    disk = on_disk(ctx, int(row.vid), str(row.topic), int(row.partition))
    if disk is not None:
        held, absent = disk
        facts["on_disk"] = held + absent
        facts["explanation"] += (f"; still on disk ({held[0]})" if held else
                                 "; no replica's log holds it any more (lost on disk)")
    facts["cluster"] = cluster_context(ctx, str(row.topic), int(row.partition), int(row.invoke_mono),
                                       int(row.complete_mono))
    return facts


@evidence(AnomalyKind.LOST_WRITE)
def lost_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    return rich(ctx, rows.sort_values("vid"), lambda r: _missing_write(
        ctx, r, "and the final read proved it read past that offset, yet no reader ever saw it"))


@evidence(AnomalyKind.UNSEEN)
def unseen_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    return rich(ctx, rows.sort_values("vid"), lambda r: _missing_write(
        ctx, r, "and no reader saw it, but no final read proved it read that far"))


@evidence(AnomalyKind.TORN_TRANSACTION)
def torn_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    def build(row) -> dict:
        missing = [vid_label(v) for v in np.asarray(row.missing, dtype=np.int64)]
        return {"transaction": f"{label(row.producer, 0).split(':')[0]} #{int(row.txn)}", "sender": str(row.worker),
                "state": row.state, "records_in_reach": int(row.covered), "visible": int(row.visible),
                "missing": missing,
                "explanation": f"transaction {int(row.txn)} of producer p{int(row.producer)} ({row.state}): "
                               f"{int(row.visible)} of {int(row.covered)} records visible to read_committed"}

    return rich(ctx, rows.sort_values(["producer", "txn"]), build)
