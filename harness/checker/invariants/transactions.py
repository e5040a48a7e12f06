"""Did readers see only writes that happened? aborted-read, failed-write-read.

aborted-read: a record of a transaction that never committed, read by a read_committed reader;
under exactly-once also by any consumer or transformer, whatever its isolation: the guarantee
is that aborted data is never processed, and read_uncommitted is how it would be (the final
read_uncommitted read only inspects the log, so it is not judged). Under at-least-once and
at-most-once a read_uncommitted consumer may see aborted records: Kafka's contract for that
isolation level, and those semantics promise nothing about transactions.

failed-write-read: a record whose producer was told it was definitely not written (Jepsen's
aborted read, without transactions). Either the broker wrote what it refused, or the send was
misclassified, and then it was also wrongly left out of the loss checks.

(torn-transaction is judged with the other visibility anomalies in visibility.py.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checker.context import READ_COMMITTED, Context
from harness.checker.evidence import cluster_context, rich, send_facts, vid_label
from harness.checker.model import AnomalyKind
from harness.checker.registry import Finding, evidence, invariant, not_applicable
from harness.semantics import Semantics


@invariant(AnomalyKind.ABORTED_READ)
def aborted_reads(ctx: Context) -> Finding:
    if ctx.history.transactions.empty:
        return not_applicable(AnomalyKind.ABORTED_READ, "no transactions")
    readers = ctx.readers_with(isolation=READ_COMMITTED)
    note = ""
    if ctx.semantics == Semantics.EXACTLY_ONCE:
        processing = ctx.readers_with("consumer") + ctx.readers_with("transformer")
        readers = list({r.worker: r for r in readers + processing}.values())
        note = "exactly-once: every consumer judged, whatever its isolation"
    if not readers:
        return not_applicable(AnomalyKind.ABORTED_READ, "no read_committed reader")
    reads = ctx.reads_by(readers)
    reads = reads[reads["txn"] > 0]
    rows = reads[ctx.txn_states_of(reads) == "aborted"].drop_duplicates(["worker", "incarnation", "vid"])
    return Finding(AnomalyKind.ABORTED_READ, True, rows, note=note)


@evidence(AnomalyKind.ABORTED_READ)
def aborted_read_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    txns = ctx.history.transactions.set_index(["producer", "txn"])

    def build(row) -> dict:
        txn = txns.loc[(row.producer, row.txn)] if (row.producer, row.txn) in txns.index else None
        outcome = txn["outcome"] if txn is not None else "unknown"
        isolation = ctx.readers[str(row.worker)].isolation
        cause = (f"; it reads {isolation}, which delivers records of aborted transactions: exactly-once "
                 "needs read_committed" if isolation != READ_COMMITTED else "")
        return {"reader": f"{row.worker}.{row.incarnation}", "isolation": isolation, "value": vid_label(row.vid),
                "transaction": f"p{row.producer} #{row.txn}", "transaction_outcome": outcome,
                "topic": str(row.topic), "partition": int(row.partition), "offset": int(row.offset),
                "at_s": ctx.seconds(row.mono),
                "explanation": f"{row.worker}.{row.incarnation} ({isolation}) read {vid_label(row.vid)} of "
                               f"transaction p{row.producer} #{row.txn}, which was {outcome}{cause}",
                "cluster": cluster_context(ctx, str(row.topic), int(row.partition), int(row.mono), int(row.mono))}

    return rich(ctx, rows.sort_values(["worker", "vid"]), build)


@invariant(AnomalyKind.FAILED_WRITE_READ)
def failed_write_reads(ctx: Context) -> Finding:
    sends = ctx.history.sends
    failed = (sends["outcome"] == "fail").to_numpy()
    if not failed.any():
        return not_applicable(AnomalyKind.FAILED_WRITE_READ, "no send definitely failed")
    reads, rows = ctx.history.reads, ctx.read_rows
    hit = np.flatnonzero((rows >= 0) & failed[np.maximum(rows, 0)])
    found = reads.iloc[hit].sort_values("mono", kind="stable").drop_duplicates("vid")
    return Finding(AnomalyKind.FAILED_WRITE_READ, True, found)


@evidence(AnomalyKind.FAILED_WRITE_READ)
def failed_write_read_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    sends = ctx.history.sends

    def build(row) -> dict:
        facts = send_facts(ctx, sends.iloc[int(ctx.rows_of(np.array([row.vid]))[0])])
        facts |= {"first_reader": f"{row.worker}.{row.incarnation}", "read_at": f"{row.topic}-{row.partition}@"
                  f"{row.offset}", "read_at_s": ctx.seconds(row.mono)}
        facts["explanation"] = (f"{facts['value']} failed with {facts.get('error')} (definitely not written), yet "
                                f"{facts['first_reader']} read it at {facts['read_at']}")
        facts["cluster"] = cluster_context(ctx, str(row.topic), int(row.partition), int(row.mono), int(row.mono))
        return facts

    return rich(ctx, rows.sort_values("vid"), build)
