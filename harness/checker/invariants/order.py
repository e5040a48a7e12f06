"""Did order hold? nonmonotonic-send, nonmonotonic-poll, poll-skip.

A reader's reads are judged within one generation of one partition (a generation ends at every
assignment and every rewind), so going back after a rebalance is duplicate processing, not an
ordering anomaly. A gap is a skip only when the final read (of the reader's isolation level)
found records inside it: transaction markers and aborted records leave gaps legitimately.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checker.context import READ_COMMITTED, READ_UNCOMMITTED, Context, stable_order
from harness.checker.evidence import cluster_context, rich, vid_label
from harness.checker.invariants.log import position
from harness.checker.model import AnomalyKind
from harness.checker.registry import Finding, evidence, invariant, not_applicable


def _pairs(keys: np.ndarray) -> np.ndarray:
    """Positions i (in sorted order) whose predecessor i-1 has the same key."""
    return np.flatnonzero(keys[1:] == keys[:-1]) + 1


@invariant(AnomalyKind.NONMONOTONIC_SEND)
def nonmonotonic_sends(ctx: Context) -> Finding:
    sends = ctx.history.sends
    offset = sends["offset"].to_numpy()
    acked = np.flatnonzero(ctx.acked & (offset >= 0))  # an ack without an offset places nothing
    if not len(acked):
        return not_applicable(AnomalyKind.NONMONOTONIC_SEND, "no acknowledged sends")
    producer = sends["producer"].to_numpy()[acked]  # sorted: sends are in (producer, seq) order
    nth = np.cumsum(np.r_[0, producer[1:] != producer[:-1]])
    order, group = stable_order(nth * (ctx.partitions + 1) + ctx.sends_tp[acked], (nth[-1] + 1) * (ctx.partitions + 1))
    offsets = offset[acked][order]
    later = _pairs(group)
    bad = later[offsets[later] < offsets[later - 1]]
    rows = sends.iloc[acked[order[bad]]].copy()
    rows["previous_vid"] = sends["vid"].to_numpy()[acked[order[bad - 1]]]
    rows["previous_offset"] = offsets[bad - 1]
    note = f"not judged for {', '.join(ctx.fire_and_forget)} (acks=0: no offsets)" if ctx.fire_and_forget else ""
    return Finding(AnomalyKind.NONMONOTONIC_SEND, True, rows, note=note)


@invariant(AnomalyKind.NONMONOTONIC_POLL, AnomalyKind.POLL_SKIP)
def polls(ctx: Context) -> list[Finding]:
    readers = ctx.readers_with("consumer") + ctx.readers_with("transformer")
    reads = ctx.reads_by(readers)
    if reads.empty:
        note = "no consumer or transformer read anything"
        return [not_applicable(AnomalyKind.NONMONOTONIC_POLL, note), not_applicable(AnomalyKind.POLL_SKIP, note)]
    dense = reads["tp"].to_numpy(np.int64)
    order, group = stable_order(_reader_groups(ctx, reads, dense))
    # (each process's reads are in time order already, and stay so within a group)
    offsets = reads["offset"].to_numpy()[order]
    later = _pairs(group)
    back = later[offsets[later] <= offsets[later - 1]]
    nonmonotonic = _with_previous(reads, order, back, offsets)

    gaps = later[offsets[later] > offsets[later - 1] + 1]
    skipped = np.zeros(len(gaps), dtype=np.int64)
    workers = reads["worker"].cat.categories[reads["worker"].cat.codes.to_numpy()[order[gaps]]]
    isolation = np.array([ctx.readers[str(w)].isolation for w in workers])
    unjudged = 0  # gaps of readers whose isolation no final read covers: skips cannot be told
    for level in (READ_COMMITTED, READ_UNCOMMITTED):
        finals = ctx.readers_with("final", level)
        mine = isolation == level
        if not finals or not mine.any():
            unjudged += int(mine.sum())
            continue
        positions = position(ctx.reads_by(finals))
        if (np.diff(positions) < 0).any():  # final reads come in log order: usually sorted already
            positions = np.sort(positions, kind="stable")  # in runs: a merge
        lo = (dense[order[gaps[mine]]] << 40) | (offsets[gaps[mine] - 1] + 1)
        hi = (dense[order[gaps[mine]]] << 40) | offsets[gaps[mine]]
        skipped[mine] = np.searchsorted(positions, hi) - np.searchsorted(positions, lo)
    skips = _with_previous(reads, order, gaps[skipped > 0], offsets)
    skips["skipped"] = skipped[skipped > 0]
    note = f"{unjudged} gaps in reading with no final read of their isolation to judge them" if unjudged else ""
    return [Finding(AnomalyKind.NONMONOTONIC_POLL, True, nonmonotonic),
            Finding(AnomalyKind.POLL_SKIP, True, skips, unknown=bool(unjudged), note=note)]


def _reader_groups(ctx: Context, reads: pd.DataFrame, tp: np.ndarray) -> np.ndarray:
    """A number per (worker incarnation, partition, generation), each read as one sequence; as
    compact as the ranges allow, so that few groups sort by radix."""
    incarnation = reads["incarnation"].to_numpy(np.int64)
    process = reads["worker"].cat.codes.to_numpy(np.int64) * (int(incarnation.max(initial=0)) + 1) + incarnation
    generation = reads["generation"].to_numpy(np.int64)
    low = int(generation.min(initial=0))
    span = int(generation.max(initial=0)) - low + 1
    return (process * (ctx.partitions + 1) + tp + 1) * span + (generation - low)


def _with_previous(reads: pd.DataFrame, order: np.ndarray, at: np.ndarray, offsets: np.ndarray) -> pd.DataFrame:
    rows = reads.iloc[order[at]].copy()
    rows["previous_offset"] = offsets[at - 1]
    rows["previous_vid"] = reads["vid"].to_numpy()[order[at - 1]]
    return rows


@evidence(AnomalyKind.NONMONOTONIC_SEND)
def send_order_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    def build(row) -> dict:
        return {"producer": f"p{row.producer}", "sender": f"{row.worker}.{row.incarnation}", "topic": str(row.topic),
                "partition": int(row.partition), "earlier": vid_label(row.previous_vid),
                "earlier_offset": int(row.previous_offset), "later": vid_label(row.vid), "later_offset": int(row.offset),
                "explanation": f"{vid_label(row.vid)} was sent after {vid_label(row.previous_vid)} but landed at "
                               f"offset {int(row.offset)}, before it ({int(row.previous_offset)})",
                "cluster": cluster_context(ctx, str(row.topic), int(row.partition), int(row.invoke_mono),
                                           int(row.complete_mono))}

    return rich(ctx, rows, build)


def _poll_evidence(ctx: Context, rows: pd.DataFrame, what: str) -> list[dict]:
    def build(row) -> dict:
        facts = {"reader": f"{row.worker}.{row.incarnation}", "topic": str(row.topic), "partition": int(row.partition),
                 "generation": int(row.generation), "from_offset": int(row.previous_offset),
                 "to_offset": int(row.offset), "at_s": ctx.seconds(row.mono),
                 "cluster": cluster_context(ctx, str(row.topic), int(row.partition), int(row.mono), int(row.mono))}
        skipped = f", skipping {int(row.skipped)} records the final read found" if hasattr(row, "skipped") else ""
        facts["explanation"] = (f"{facts['reader']} {what} from offset {facts['from_offset']} to {facts['to_offset']} "
                                f"of {row.topic}-{row.partition} with no rebalance or seek between{skipped}")
        return facts

    return rich(ctx, rows, build)


@evidence(AnomalyKind.NONMONOTONIC_POLL)
def back_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    return _poll_evidence(ctx, rows, "went back")


@evidence(AnomalyKind.POLL_SKIP)
def skip_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    return _poll_evidence(ctx, rows, "jumped")
