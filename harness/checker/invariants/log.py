"""Is the log itself consistent? duplicate, inconsistent-offsets, phantom."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checker.context import READ_UNCOMMITTED, Context
from harness.checker.evidence import RICH_LIMIT, cluster_context, reads_of, rich, send_facts, vid_label
from harness.checker.model import AnomalyKind
from harness.checker.registry import Finding, evidence, invariant, not_applicable


@invariant(AnomalyKind.DUPLICATE)
def duplicates(ctx: Context) -> Finding:
    """A value at more than one offset of the log, as the final read found it.

    Judged on one final reader, read_uncommitted if there is one: it sees every copy read_committed
    sees, and one reader reads each offset once, so a value read twice is a value stored twice.
    """
    finals = ctx.readers_with("final", READ_UNCOMMITTED) or ctx.readers_with("final")
    if not finals:
        if ctx.acked.any():  # the log was never read whole: duplicates in it cannot be ruled out
            return Finding(AnomalyKind.DUPLICATE, True, unknown=True, note=ctx.unproven())
        return not_applicable(AnomalyKind.DUPLICATE, "no final read, nothing acknowledged")
    times = ctx.seen_by(ctx.reads_by(finals[:1]))
    twice = np.flatnonzero(times > 1)
    rows = pd.DataFrame({"vid": ctx.history.sends["vid"].to_numpy()[twice], "places": times[twice]})
    return Finding(AnomalyKind.DUPLICATE, True, rows)


@invariant(AnomalyKind.INCONSISTENT_OFFSETS)
def inconsistent_offsets(ctx: Context) -> Finding:
    """One offset of a partition observed holding different values. Observations (Jepsen's
    version order) are every read, by any reader, and every acknowledgement that names an offset."""
    reads, sends = ctx.history.reads, ctx.history.sends
    acked = np.flatnonzero(ctx.acked & (sends["offset"].to_numpy() >= 0) & (ctx.sends_tp >= 0))
    if reads.empty and not len(acked):
        return not_applicable(AnomalyKind.INCONSISTENT_OFFSETS, "nothing was read or acknowledged at an offset")
    at = np.concatenate([position(reads), (ctx.sends_tp[acked] << 40) | sends["offset"].to_numpy()[acked]])
    identity = np.concatenate([read_identity(reads), sends["vid"].to_numpy()[acked]])
    clashing = _clashing_positions(at, identity)
    if not len(clashing):
        return Finding(AnomalyKind.INCONSISTENT_OFFSETS, True, pd.DataFrame(columns=["tp", "offset", "identity"]))
    here = np.isin(at, clashing)
    views = pd.DataFrame({"at": at[here], "identity": identity[here]})
    rows = views.groupby("at")["identity"].unique().map(sorted).reset_index()
    at = rows["at"].to_numpy(np.int64)
    rows["tp"], rows["offset"] = at >> 40, at & OFFSET_MASK
    return Finding(AnomalyKind.INCONSISTENT_OFFSETS, True, rows[["tp", "offset", "identity"]])


OFFSET_MASK = (1 << 40) - 1


def read_identity(reads: pd.DataFrame) -> np.ndarray:
    """What each read found: its value id, or for a foreign value -2 minus a code of its first bytes."""
    identity = reads["vid"].to_numpy().copy()
    foreign = identity < 0
    if foreign.any():
        identity[foreign] = -2 - reads["head"].cat.codes.to_numpy()[foreign].astype(np.int64)
    return identity


def _clashing_positions(at: np.ndarray, identity: np.ndarray) -> np.ndarray:
    """Positions observed with more than one identity. Each position gets one slot of a dense
    array per partition's offset range; one identity per slot is kept, and every observation is
    compared with its slot's: linear, no sort. (A sort when the offsets are too sparse for slots.)"""
    if not len(at):
        return at
    tp, offset = at >> 40, at & OFFSET_MASK
    low = np.full(int(tp.max()) + 1, np.iinfo(np.int64).max)
    high = np.full(len(low), -1, np.int64)
    np.minimum.at(low, tp, offset)
    np.maximum.at(high, tp, offset)
    sizes = np.maximum(high - low + 1, 0)
    if sizes.sum() > 4 * len(at) + 4096:
        order = np.argsort(at)
        at, identity = at[order], identity[order]
        differs = (at[1:] == at[:-1]) & (identity[1:] != identity[:-1])
        return np.unique(at[1:][differs])
    slot = (np.cumsum(sizes) - sizes)[tp] + offset - low[tp]
    kept = np.empty(int(sizes.sum()), np.int64)
    kept[slot] = identity
    return np.unique(at[identity != kept[slot]])


def position(reads: pd.DataFrame) -> np.ndarray:
    """One int64 per (topic, partition, offset)."""
    return (reads["tp"].to_numpy(np.int64) << 40) | reads["offset"].to_numpy(np.int64)


@invariant(AnomalyKind.PHANTOM)
def phantoms(ctx: Context) -> Finding:
    """A record read that no recorded invocation sent (a foreign value, or an unknown id)."""
    reads = ctx.history.reads
    if reads.empty:
        return not_applicable(AnomalyKind.PHANTOM, "nothing was read")
    unknown = reads[ctx.read_rows < 0]
    rows = unknown.drop_duplicates(["topic", "partition", "offset", "vid"])
    return Finding(AnomalyKind.PHANTOM, True, rows)


@evidence(AnomalyKind.DUPLICATE)
def duplicate_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    rows = rows.sort_values("vid")
    sends = ctx.history.sends
    seen = reads_of(ctx, rows["vid"].head(RICH_LIMIT))

    def build(row) -> dict:
        at = int(ctx.rows_of(np.array([row.vid]))[0])
        facts = send_facts(ctx, sends.iloc[at]) if at >= 0 else {}
        reads = seen.get(int(row.vid), [])
        offsets = sorted({(r["partition"], r["offset"]) for r in reads})
        facts.update({"value": vid_label(row.vid), "places": int(row.places),
                      "found_at": [f"{p}@{o}" for p, o in offsets], "reads": reads,
                      "explanation": f"{vid_label(row.vid)} is in the log {int(row.places)} times: "
                                     + ", ".join(f"partition {p} offset {o}" for p, o in offsets)})
        return facts

    return rich(ctx, rows, build)


@evidence(AnomalyKind.INCONSISTENT_OFFSETS)
def inconsistent_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    reads, sends = ctx.history.reads, ctx.history.sends
    rows = rows.sort_values(["tp", "offset"])
    wanted = (rows["tp"].to_numpy(np.int64) << 40) | rows["offset"].to_numpy(np.int64)
    reads = reads[np.isin(position(reads), wanted[:RICH_LIMIT])]
    acked = ctx.acked & (sends["offset"].to_numpy() >= 0)
    acks = sends[acked & np.isin((ctx.sends_tp << 40) | sends["offset"].to_numpy(), wanted[:RICH_LIMIT])]

    def build(row) -> dict:
        topic, partition = ctx.tp_name(row.tp)
        read_here = reads[(reads["tp"] == row.tp) & (reads["offset"] == row.offset)].sort_values("mono")
        acked_here = acks[(acks["tp"] == row.tp) & (acks["offset"] == row.offset)]
        views = [{"reader": f"{r.worker}.{r.incarnation}", "value": vid_label(r.vid) if r.vid >= 0 else repr(r.head),
                  "at_s": ctx.seconds(r.mono)} for r in read_here.itertuples()]
        views += [{"acknowledged_to": f"{a.worker}.{a.incarnation}", "value": vid_label(a.vid),
                   "at_s": ctx.seconds(a.complete_mono)} for a in acked_here.itertuples()]
        values = sorted({v["value"] for v in views})
        times = [int(t) for t in read_here["mono"]] + [int(t) for t in acked_here["complete_mono"]]
        return {"topic": topic, "partition": partition, "offset": int(row.offset), "values": values,
                "observations": views,
                "explanation": f"{topic}-{partition}@{int(row.offset)} was observed (read or acknowledged) holding "
                               f"{' and '.join(values)}",
                "cluster": cluster_context(ctx, topic, partition, min(times), max(times))}

    return rich(ctx, rows, build)


@evidence(AnomalyKind.PHANTOM)
def phantom_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    def build(row) -> dict:
        what = vid_label(row.vid) if row.vid >= 0 else f"foreign value {row.head!r}"
        return {"reader": f"{row.worker}.{row.incarnation}", "topic": str(row.topic), "partition": int(row.partition),
                "offset": int(row.offset), "value": what, "at_s": ctx.seconds(row.mono),
                "explanation": f"{row.worker}.{row.incarnation} read {what} at {row.topic}-{row.partition}@{row.offset}"
                               ", which no recorded invocation sent"}

    return rich(ctx, rows.sort_values(["topic", "partition", "offset"]), build)
