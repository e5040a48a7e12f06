"""Is the log itself consistent? duplicate, inconsistent-offsets, phantom."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checker.context import READ_UNCOMMITTED, Context
from harness.checker.evidence import cluster_context, reads_of, rich, send_facts, vid_label
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
        return not_applicable(AnomalyKind.DUPLICATE, "no final read")
    times = ctx.seen_by(ctx.reads_by(finals[:1]))
    twice = np.flatnonzero(times > 1)
    rows = pd.DataFrame({"vid": ctx.history.sends["vid"].to_numpy()[twice], "places": times[twice]})
    return Finding(AnomalyKind.DUPLICATE, True, rows)


@invariant(AnomalyKind.INCONSISTENT_OFFSETS)
def inconsistent_offsets(ctx: Context) -> Finding:
    """One offset of a partition seen holding different values, by any readers."""
    reads = ctx.history.reads
    if reads.empty:
        return not_applicable(AnomalyKind.INCONSISTENT_OFFSETS, "nothing was read")
    identity = reads["vid"].to_numpy().copy()
    foreign = identity < 0
    if foreign.any():  # foreign values are told apart by their first bytes
        identity[foreign] = -2 - reads["head"].cat.codes.to_numpy()[foreign].astype(np.int64)
    at = position(reads)
    clashing = _clashing_positions(at, identity)
    views = pd.DataFrame({"at": at, "identity": identity})
    rows = views[np.isin(at, clashing)].groupby("at")["identity"].unique().map(sorted).reset_index()
    at = rows["at"].to_numpy(np.int64)
    rows["tp"], rows["offset"] = at >> 40, at & OFFSET_MASK
    return Finding(AnomalyKind.INCONSISTENT_OFFSETS, True, rows[["tp", "offset", "identity"]])


OFFSET_MASK = (1 << 40) - 1


def _clashing_positions(at: np.ndarray, identity: np.ndarray) -> np.ndarray:
    """Positions holding more than one identity. Sorting beats hashing here: one sorted pass
    over positions, then neighbours compared."""
    order = np.lexsort((identity, at))
    at, identity = at[order], identity[order]
    differs = (at[1:] == at[:-1]) & (identity[1:] != identity[:-1])
    return np.unique(at[1:][differs])


def position(reads: pd.DataFrame) -> np.ndarray:
    """One int64 per (topic, partition, offset)."""
    return (reads["tp"].to_numpy(np.int64) << 40) | reads["offset"].to_numpy(np.int64)


@invariant(AnomalyKind.PHANTOM)
def phantoms(ctx: Context) -> Finding:
    """A record read that no recorded invocation sent (a foreign value, or an unknown id)."""
    reads = ctx.history.reads
    if reads.empty:
        return not_applicable(AnomalyKind.PHANTOM, "nothing was read")
    unknown = reads[ctx.rows_of(reads["vid"].to_numpy()) < 0]
    rows = unknown.drop_duplicates(["topic", "partition", "offset", "vid"])
    return Finding(AnomalyKind.PHANTOM, True, rows)


@evidence(AnomalyKind.DUPLICATE)
def duplicate_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    rows = rows.sort_values("vid")
    sends = ctx.history.sends.set_index("vid")
    seen = reads_of(ctx, rows["vid"].head(200))

    def build(row) -> dict:
        facts = send_facts(ctx, sends.loc[row.vid]) if row.vid in sends.index else {}
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
    reads = ctx.history.reads

    def build(row) -> dict:
        topic, partition = ctx.tp_name(row.tp)
        here = reads[(reads["topic"] == topic) & (reads["partition"] == partition) & (reads["offset"] == row.offset)]
        views = [{"reader": f"{r.worker}.{r.incarnation}", "value": vid_label(r.vid) if r.vid >= 0 else repr(r.head),
                  "at_s": ctx.seconds(r.mono)} for r in here.sort_values("mono").itertuples()]
        values = sorted({v["value"] for v in views})
        return {"topic": topic, "partition": partition, "offset": int(row.offset), "values": values, "reads": views,
                "explanation": f"{topic}-{partition}@{int(row.offset)} read as {' and as '.join(values)}",
                "cluster": cluster_context(ctx, topic, partition, int(here["mono"].min()), int(here["mono"].max()))}

    return rich(ctx, rows.sort_values(["tp", "offset"]), build)


@evidence(AnomalyKind.PHANTOM)
def phantom_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    def build(row) -> dict:
        what = vid_label(row.vid) if row.vid >= 0 else f"foreign value {row.head!r}"
        return {"reader": f"{row.worker}.{row.incarnation}", "topic": str(row.topic), "partition": int(row.partition),
                "offset": int(row.offset), "value": what, "at_s": ctx.seconds(row.mono),
                "explanation": f"{row.worker}.{row.incarnation} read {what} at {row.topic}-{row.partition}@{row.offset}"
                               ", which no recorded invocation sent"}

    return rich(ctx, rows.sort_values(["topic", "partition", "offset"]), build)
