"""Turning anomaly rows into evidence a person can follow: who sent the value and when, where
it was acknowledged, which reads saw what, and what happened to the cluster around that time."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checker.context import NO_BOUND, Context

RICH_LIMIT = 200  # anomalies per kind given full evidence; the rest keep their plain facts
CONTEXT_BEFORE_S = 30
CONTEXT_AFTER_S = 10
PARTITION_AFTER_S = 120  # what later happened to the partition itself (a truncating leader change) explains a loss
READS_PER_VALUE = 10


def label(producer, seq) -> str:
    return f"p{int(producer)}:{int(seq)}" if producer is not None and int(producer) >= 0 else "foreign"


def vid_label(vid: int) -> str:
    return label(int(vid) >> 40, int(vid) & ((1 << 40) - 1)) if vid >= 0 else "foreign"


def send_facts(ctx: Context, row) -> dict:
    """The send invocation behind an anomaly, from a sends row."""
    facts = {
        "value": label(row.producer, row.seq),
        "topic": str(row.topic),
        "key": None if pd.isna(row.key) else str(row.key),
        "sender": f"{row.worker}.{row.incarnation}",
        "sent_at_s": ctx.seconds(row.invoke_mono),
        "txn": int(row.txn),
        "outcome": str(row.outcome),
    }
    if str(row.outcome) == "ok":
        facts |= {"acked_partition": int(row.partition), "acked_offset": int(row.offset) if row.offset >= 0 else None,
                  "acked_at_s": ctx.seconds(row.complete_mono)}
        if row.offset < 0:
            facts["offset_between"] = position_range(ctx, int(row.producer) << 40 | int(row.seq))
    elif str(row.outcome) in ("fail", "info") and not pd.isna(row.error):
        facts["error"] = str(row.error)
    return facts


def position_range(ctx: Context, vid: int) -> list[int | None]:
    """[lowest, highest] offset a value whose ack carried none can be at (None: no bound)."""
    lo, hi = ctx.bounds
    row = int(ctx.rows_of(np.array([vid]))[0])
    return [int(lo[row]), int(hi[row]) - 1 if hi[row] < NO_BOUND else None]


def where_acked(facts: dict, topic, partition) -> str:
    """Where an ack put a value, in words: t-0@5, or t-0 at an unknown offset (in [lo, hi])."""
    if facts.get("acked_offset") is not None:
        return f"{topic}-{partition}@{facts['acked_offset']}"
    lo, hi = facts.get("offset_between", [0, None])
    if hi is not None and hi < lo:
        return (f"{topic}-{partition} without an offset (no offset is left where it can be: at or after {lo}, "
                f"and before {hi + 1})")
    return f"{topic}-{partition} without an offset (it can only be at offsets {lo} to {'the end' if hi is None else hi})"


def acks0_note(ctx: Context) -> str:
    """Says which producers ran with acks=0, for the invariants that judge acknowledged writes."""
    if not ctx.fire_and_forget:
        return ""
    return (f"{', '.join(ctx.fire_and_forget)} ran with acks=0: acknowledgements without offsets, "
            "loss judged from what the final read proved")


def reads_of(ctx: Context, vids, readers: list[str] | None = None) -> dict[int, list[dict]]:
    """Who read each value (of `readers`, default any), where and when (READS_PER_VALUE each at most)."""
    reads = ctx.history.reads
    vids = np.asarray(list(vids), dtype=np.int64)
    chosen = np.zeros(len(ctx.history.sends) + 1, dtype=bool)  # the spare last slot: values no send has
    chosen[ctx.rows_of(vids[vids >= 0])] = True
    chosen[-1] = False
    wanted = reads[chosen[ctx.read_rows]]
    if readers is not None:
        wanted = wanted[wanted["worker"].isin(readers)]
    wanted = wanted.sort_values("mono")
    out: dict[int, list[dict]] = {}
    for r in wanted.itertuples(index=False):
        seen = out.setdefault(int(r.vid), [])
        if len(seen) < READS_PER_VALUE:
            seen.append({"reader": f"{r.worker}.{r.incarnation}", "partition": int(r.partition),
                         "offset": int(r.offset), "at_s": ctx.seconds(r.mono), "generation": int(r.generation)})
    return out


def on_disk(ctx: Context, vid: int, topic: str, partition: int) -> tuple[list[str], list[str]] | None:
    """(replicas whose segment files hold the value, replicas that do not), from the scan after
    the run; None when there was none."""
    if ctx.disk is None:
        return None
    scanned, values = ctx.disk
    replicas = [s for s in scanned if s["topic"] == topic and s["partition"] == partition and s["replica"]]
    if not replicas:
        return None
    copies = values.loc[[vid]] if vid in values.index else values.iloc[:0]
    held = [f"node {r.node}: at offset {r.offset} (leader epoch {r.leader_epoch})" for r in copies.itertuples()]
    absent = [f"node {r['node']}: absent from its {r['records']} records"
              + (f" ({r['compressed_batches']} compressed batches not read)" if r["compressed_batches"] else "")
              for r in replicas if r["node"] not in set(copies["node"])]
    return held, absent


def cluster_context(ctx: Context, topic: str, partition: int | None, t0_mono: int, t1_mono: int) -> list[str]:
    """What the event log says happened to the cluster and to this partition around the anomaly:
    faults (cluster-wide) and leadership or ISR changes of the partition, the latter until well
    after it (the leader change that truncated a write can come long after its ack)."""
    lo = t0_mono - CONTEXT_BEFORE_S * 10**9
    lines = []
    for event in ctx.run_events:
        about = event.get("topic")
        if about is not None and (about != topic or (partition is not None and event.get("partition") != partition)):
            continue
        after = PARTITION_AFTER_S if about is not None else CONTEXT_AFTER_S
        if not lo <= event["mono"] <= t1_mono + after * 10**9:
            continue
        text = event.get("text") or f"{event.get('source', '')} {event.get('kind', '')}".strip()
        lines.append(f"{ctx.seconds(event['mono']):.2f}s {text}")
    return lines


def rich(ctx: Context, rows: pd.DataFrame, build) -> list[dict]:
    """`build(row)` for the first RICH_LIMIT rows, plain column values for the rest."""
    return [build(row) for row in rows.head(RICH_LIMIT).itertuples()] + plain(rows.iloc[RICH_LIMIT:])


def plain(rows: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts of their own columns."""
    return [{k: _plain(v) for k, v in zip(rows.columns, values)} for values in rows.itertuples(index=False)]


def _plain(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if value is None or (not isinstance(value, (str, bytes)) and pd.isna(value)):
        return None
    return value if isinstance(value, (int, float, str, bool)) else str(value)
