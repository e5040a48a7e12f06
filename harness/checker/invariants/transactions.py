"""Did read_committed readers see only committed data? aborted-read.

(torn-transaction is judged with the other visibility anomalies in visibility.py.)
"""

from __future__ import annotations

import pandas as pd

from harness.checker.context import READ_COMMITTED, Context
from harness.checker.evidence import cluster_context, rich, vid_label
from harness.checker.model import AnomalyKind
from harness.checker.registry import Finding, evidence, invariant, not_applicable


@invariant(AnomalyKind.ABORTED_READ)
def aborted_reads(ctx: Context) -> Finding:
    if ctx.history.transactions.empty:
        return not_applicable(AnomalyKind.ABORTED_READ, "no transactions")
    readers = ctx.readers_with(isolation=READ_COMMITTED)
    if not readers:
        return not_applicable(AnomalyKind.ABORTED_READ, "no read_committed reader")
    reads = ctx.reads_by(readers)
    reads = reads[reads["txn"] > 0]
    rows = reads[ctx.txn_states_of(reads) == "aborted"].drop_duplicates(["worker", "incarnation", "vid"])
    return Finding(AnomalyKind.ABORTED_READ, True, rows)


@evidence(AnomalyKind.ABORTED_READ)
def aborted_read_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    txns = ctx.history.transactions.set_index(["producer", "txn"])

    def build(row) -> dict:
        txn = txns.loc[(row.producer, row.txn)] if (row.producer, row.txn) in txns.index else None
        outcome = txn["outcome"] if txn is not None else "unknown"
        return {"reader": f"{row.worker}.{row.incarnation}", "value": vid_label(row.vid),
                "transaction": f"p{row.producer} #{row.txn}", "transaction_outcome": outcome,
                "topic": str(row.topic), "partition": int(row.partition), "offset": int(row.offset),
                "at_s": ctx.seconds(row.mono),
                "explanation": f"{row.worker}.{row.incarnation} (read_committed) read {vid_label(row.vid)} of "
                               f"transaction p{row.producer} #{row.txn}, which was {outcome}",
                "cluster": cluster_context(ctx, str(row.topic), int(row.partition), int(row.mono), int(row.mono))}

    return rich(ctx, rows.sort_values(["worker", "vid"]), build)
