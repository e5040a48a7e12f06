"""Did every acknowledged write stay readable? lost-write, unseen, torn-transaction.

Conservative like Jepsen's: a write is lost only if no reader ever saw it and it provably is not
in the log: a final reader proved it read every offset the value can be at (between that
reader's log start and the offset below which it read everything, also when it stopped early),
or the segment files of every replica prove it gone. Otherwise it is unseen. Indeterminate
writes are not judged. A committed transaction of which the read_committed final read saw some
records but not others is torn; its missing records are reported there, not as lost writes.
Without a final read that proved anything, lost-write and torn-transaction are unknown.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checker.context import READ_COMMITTED, Context
from harness.checker.evidence import acks0_note, cluster_context, label, on_disk, rich, send_facts, vid_label, where_acked
from harness.checker.model import AnomalyKind
from harness.checker.registry import Finding, evidence, invariant, not_applicable

KINDS = (AnomalyKind.LOST_WRITE, AnomalyKind.UNSEEN, AnomalyKind.TORN_TRANSACTION)


@invariant(*KINDS)
def visibility(ctx: Context) -> list[Finding]:
    torn = torn_transactions(ctx)
    missing = ctx.missing.copy()
    if not torn.empty:  # one event, one anomaly: a torn transaction's missing records are not lost writes
        missing[ctx.rows_of(np.concatenate(torn["missing"].to_numpy()))] = False
    sends = ctx.history.sends
    lost = sends[missing & ctx.proven_missing]
    unseen = sends[missing & ~ctx.proven_missing]
    why = ctx.unproven()
    notes = "; ".join(n for n in (why, acks0_note(ctx)) if n)
    return [Finding(AnomalyKind.LOST_WRITE, True, lost, unknown=bool(why) and bool(ctx.visible_mask.any()), note=notes),
            Finding(AnomalyKind.UNSEEN, True, unseen, note=notes),
            torn_finding(ctx, torn)]


def torn_transactions(ctx: Context) -> pd.DataFrame:
    """Committed transactions the read_committed final read saw partly, within what it proved it
    read. (An aborted transaction seen partly is an aborted read, not a torn one.)"""
    columns = ["producer", "txn", "worker", "state", "covered", "visible", "missing"]
    if ctx.history.transactions.empty or not ctx.readers_with("final", READ_COMMITTED):
        return pd.DataFrame(columns=columns)
    sends = ctx.history.sends
    seen = ctx.seen_by(ctx.reads_by(ctx.readers_with("final", READ_COMMITTED))) > 0
    in_txn = np.flatnonzero((sends["txn"].to_numpy() > 0) & ctx.acked)
    in_txn = in_txn[ctx.txn_states_of(sends.iloc[in_txn]) == "committed"]
    in_txn = in_txn[ctx.covered(in_txn, READ_COMMITTED)]
    members = sends.iloc[in_txn][["producer", "txn", "worker", "vid"]].copy()
    members["seen"], members["state"] = seen[in_txn], "committed"
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
    why = ctx.unproven(READ_COMMITTED)
    committed = (ctx.transaction_state == "committed").any()
    if why and not committed:
        return not_applicable(AnomalyKind.TORN_TRANSACTION, why)
    return Finding(AnomalyKind.TORN_TRANSACTION, True, torn, unknown=bool(why), note=why)


def _final_reads(ctx: Context) -> dict[tuple[str, int], list[dict]]:
    """What each final reader proved, per partition."""
    found: dict[tuple[str, int], list[dict]] = {}
    for p in ctx.proofs.to_dict("records"):
        found.setdefault((p["topic"], int(p["partition"])), []).append(
            {"reader": p["worker"], "log_start": int(p["log_start"]), "proven_end": int(p["proven"]),
             "complete": bool(p["complete"])})
    return found


def _missing_write(ctx: Context, row, why: str, final_reads: dict) -> dict:
    facts = send_facts(ctx, row)
    facts["final_reads"] = final_reads.get((str(row.topic), int(row.partition)), [])
    facts["explanation"] = (f"{facts['value']} acknowledged at {where_acked(facts, row.topic, row.partition)} "
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
    covered = set(rows.index[ctx.covered(rows.index.to_numpy())])

    def why(row) -> str:
        if row.Index in covered:
            return "and the final read proved it read everywhere it can be, yet no reader ever saw it"
        return ("and no reader ever saw it; no final read proved it read where it can be, but every replica's "
                "segment files were read, reach back before it was sent, and none holds it")

    final_reads = _final_reads(ctx)
    return rich(ctx, rows.sort_values("vid"), lambda r: _missing_write(ctx, r, why(r), final_reads))


@evidence(AnomalyKind.UNSEEN)
def unseen_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    final_reads = _final_reads(ctx)
    return rich(ctx, rows.sort_values("vid"), lambda r: _missing_write(
        ctx, r, "and no reader saw it, but no final read proved it read everywhere it can be", final_reads))


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
