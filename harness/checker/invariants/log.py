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
    offset = sends["offset"].to_numpy()
    acked = np.flatnonzero(ctx.acked & (offset >= 0) & (ctx.sends_tp >= 0))
    if reads.empty and not len(acked):
        return not_applicable(AnomalyKind.INCONSISTENT_OFFSETS, "nothing was read or acknowledged at an offset")
    observations = [(reads["tp"].to_numpy(np.int64), reads["offset"].to_numpy(np.int64), read_identity(reads)),
                    (ctx.sends_tp[acked], offset[acked], sends["vid"].to_numpy()[acked])]
    observations = [(tp, off, ident) for tp, off, ident in observations if len(tp)]
    at, identity = _clashes(observations)
    views = pd.DataFrame({"at": at, "identity": identity})
    rows = views.groupby("at")["identity"].unique().map(sorted).reset_index()
    at = rows["at"].to_numpy(np.int64)
    rows["tp"], rows["offset"] = at >> 40, at & OFFSET_MASK
    return Finding(AnomalyKind.INCONSISTENT_OFFSETS, True, rows[["tp", "offset", "identity"]])


OFFSET_MASK = (1 << 40) - 1


def read_identity(reads: pd.DataFrame) -> np.ndarray:
    """What each read found: its value id, or for a foreign value -2 minus a code of its first bytes."""
    identity = reads["vid"].to_numpy()
    foreign = identity < 0
    if foreign.any():
        identity = identity.copy()
        identity[foreign] = -2 - reads["head"].cat.codes.to_numpy()[foreign].astype(np.int64)
    return identity


def _clashes(observations: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The (position, identity) observations at positions observed with more than one identity.

    Linear, no sort: one slot per (partition, offset) of a dense table as wide as the offsets
    run; one identity kept per slot, every observation compared with its slot's. (A sort when
    the offsets are too sparse for a table.)"""
    low = min(int(off.min()) for _, off, _ in observations)
    width = max(int(off.max()) for _, off, _ in observations) - low + 1
    size = (max(int(tp.max()) for tp, _, _ in observations) + 1) * width
    if size > 2 * sum(len(tp) for tp, _, _ in observations) + 4096:
        at = np.concatenate([(tp << 40) | off for tp, off, _ in observations])
        identity = np.concatenate([ident for _, _, ident in observations])
        order = np.argsort(at)
        differs = (at[order][1:] == at[order][:-1]) & (identity[order][1:] != identity[order][:-1])
        here = np.isin(at, at[order][1:][differs])
        return at[here], identity[here]
    slots = [tp * width + (off - low) for tp, off, _ in observations]
    kept = np.empty(size, np.int64)
    for slot, (_, _, ident) in zip(slots, observations):
        kept[slot] = ident
    clashing = np.zeros(size, dtype=bool)
    for slot, (_, _, ident) in zip(slots, observations):
        clashing[slot[ident != kept[slot]]] = True
    found = [(slot[clashing[slot]], ident[clashing[slot]]) for slot, (_, _, ident) in zip(slots, observations)]
    slot = np.concatenate([f[0] for f in found])
    return ((slot // width) << 40) | (slot % width + low), np.concatenate([f[1] for f in found])


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
    wanted = rows.head(RICH_LIMIT)
    low, high = int(wanted["offset"].min()), int(wanted["offset"].max())
    near = reads["offset"].between(low, high).to_numpy() & np.isin(reads["tp"].to_numpy(), wanted["tp"].unique())
    reads = reads[near]
    offset = sends["offset"].to_numpy()
    acks = sends[ctx.acked & (offset >= low) & (offset <= high) & np.isin(ctx.sends_tp, wanted["tp"].unique())]

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
