"""Was every acknowledged input processed the right number of times?

Consumer groups: duplicate-processing (an input processed more than once) and lost-processing
(an input the group passed over: below what it committed or beyond it processed, yet never
processed; a write the log provably lost is a lost write, not the group's doing). Sinks are
groups too, whose processing is what the database holds: a row of the dumped table is one
processing, and the offsets stored in the database are commits like Kafka's. So is a Kafka
Streams application (its application id), whose processing is what it committed: an output the
read_committed final read found, naming its input, is one processing. Transformers,
judged on committed output in the log: each input must have its outputs in exactly one
committed transaction, all of them; more is duplicate-output, less is lost-output.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from harness.checker.context import READ_COMMITTED, Context, Reader
from harness.checker.evidence import cluster_context, reads_of, rich, send_facts, vid_label
from harness.checker.model import AnomalyKind
from harness.checker.registry import Finding, evidence, invariant, not_applicable
from harness.database.table import DumpError
from harness.history.load import value_id


def _groups(readers: list[Reader]) -> dict[str, list[Reader]]:
    groups: dict[str, list[Reader]] = defaultdict(list)
    for reader in readers:
        groups[reader.group].append(reader)
    return dict(sorted(groups.items()))


@invariant(AnomalyKind.DUPLICATE_PROCESSING, AnomalyKind.LOST_PROCESSING)
def consumer_groups(ctx: Context) -> list[Finding]:
    groups, sinks = _groups(ctx.readers_with("consumer")), _groups(ctx.readers_with("sink"))
    streams = _groups(ctx.readers_with("streams"))
    if not groups and not sinks and not streams:
        note = "no consumers, sinks or Kafka Streams applications"
        return [not_applicable(AnomalyKind.DUPLICATE_PROCESSING, note),
                not_applicable(AnomalyKind.LOST_PROCESSING, note)]
    duplicated, lost, why = [], [], ""
    for group, members in groups.items():
        reads = ctx.reads_by(members)
        _judge(ctx, group, members, ctx.seen_by(reads), reads["tp"].to_numpy(), reads["offset"].to_numpy(np.int64),
               duplicated, lost)
    if sinks:
        try:
            table, stored = ctx.database
        except DumpError as exc:
            why = f"the sinks' database cannot be judged: {exc}"
            sinks = {}
        for group, members in sinks.items():
            rows = table[table["grp"] == group]
            stored_here = stored[stored["grp"] == group]
            extra = (ctx.tp(stored_here["topic"], stored_here["partition"]), stored_here["next_offset"].to_numpy())
            written = ctx.rows_of(value_id(rows["producer"], rows["seq"]))
            times = np.bincount(written[written >= 0], minlength=len(ctx.history.sends))
            _judge(ctx, group, members, times, ctx.tp(rows["topic"], rows["partition"]),
                   rows["offset"].to_numpy(np.int64), duplicated, lost, extra, sink=True)
    if streams and (unproven := ctx.unproven(READ_COMMITTED)):
        why = "; ".join(filter(None, [why, f"the Kafka Streams output cannot be judged: {unproven} of the output"]))
        streams = {}
    for group, members in streams.items():
        times, processed = committed_processing(ctx, members)
        _judge(ctx, group, members, times, processed["tp"].to_numpy(), processed["offset"].to_numpy(np.int64),
               duplicated, lost, streams=True)
    return [Finding(kind, True, pd.concat(found) if found else pd.DataFrame(), note=why, unknown=bool(why))
            for kind, found in ((AnomalyKind.DUPLICATE_PROCESSING, duplicated), (AnomalyKind.LOST_PROCESSING, lost))]


def committed_processing(ctx: Context, members: list[Reader]) -> tuple[np.ndarray, pd.DataFrame]:
    """A Kafka Streams application's processing as its committed output shows it: per send row,
    how many of the members' outputs the read_committed final read found naming it as their
    input; and the members' reads of inputs that have such an output (tp, offset)."""
    sends = ctx.history.sends
    seen = ctx.seen_by(ctx.reads_by(ctx.readers_with("final", READ_COMMITTED))) > 0
    outputs = np.flatnonzero(seen & sends["worker"].isin([m.worker for m in members]).to_numpy())
    source = ctx.rows_of(value_id(sends["source_producer"].to_numpy()[outputs], sends["source_seq"].to_numpy()[outputs]))
    times = np.bincount(source[source >= 0], minlength=len(sends))
    reads = ctx.reads_by(members)
    read_rows = ctx.rows_read(reads)
    done = np.zeros(len(read_rows), dtype=bool)
    done[read_rows >= 0] = times[read_rows[read_rows >= 0]] > 0
    return times, pd.DataFrame({"tp": reads["tp"].to_numpy()[done], "offset": reads["offset"].to_numpy(np.int64)[done]})


def _judge(ctx: Context, group: str, members: list[Reader], times: np.ndarray, processed_tp: np.ndarray,
           processed_offset: np.ndarray, duplicated: list, lost: list, stored=None, sink: bool = False,
           streams: bool = False) -> None:
    """One group: `times` each send row was processed; where (tp, offset) each processing was;
    `stored`: (tp, offset) commits kept outside Kafka (a sink's database)."""
    sends = ctx.history.sends
    topics = {t for m in members for t in m.topics}
    is_input = ctx.visible_mask & sends["topic"].isin(topics).to_numpy()
    twice = np.flatnonzero(is_input & (times > 1))
    duplicated.append(sends.iloc[twice].assign(times=times[twice], group=group, sink=sink, streams=streams))
    unprocessed = np.flatnonzero(is_input & (times == 0) & ~ctx.proven_missing)
    reach = _reach(ctx, members, unprocessed, processed_tp, processed_offset, stored)
    passed = unprocessed[ctx.bounds[1][unprocessed] <= reach]
    lost.append(sends.iloc[passed].assign(group=group, sink=sink, streams=streams))


def _reach(ctx: Context, members: list[Reader], rows: np.ndarray, processed_tp: np.ndarray,
           processed_offset: np.ndarray, stored=None) -> np.ndarray:
    """How far the group declared itself done in each send row's partition: the highest offset
    it committed (to Kafka, or where it stores offsets), or one past the highest it processed."""
    names = [m.worker for m in members]
    events = ctx.history.events
    commits = events[events["worker"].isin(names) & (events["kind"] == "commit") & (events["phase"] == "ok")]
    stored_tp, stored_offset = stored if stored is not None else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    return _per_partition_max(
        ctx, np.concatenate([commits["tp"].to_numpy(), processed_tp, stored_tp]).astype(np.int64),
        np.concatenate([commits["offset"].to_numpy(np.int64), processed_offset + 1, stored_offset]), rows)


def _per_partition_max(ctx: Context, tp: np.ndarray, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each send row, the largest of `values` in the row's partition (-1 if none)."""
    best = np.full(ctx.partitions + 1, -1, np.int64)
    if len(tp):
        np.maximum.at(best, tp, values)  # tp -1 (no partition) lands in the spare last slot
    best[-1] = -1
    return best[ctx.sends_tp[rows]]


OUTPUT_KINDS = (AnomalyKind.DUPLICATE_OUTPUT, AnomalyKind.LOST_OUTPUT)


@invariant(*OUTPUT_KINDS)
def transformer_output(ctx: Context) -> list[Finding]:
    """Per input of each transformer group, its outputs the read_committed final read found,
    counted per committed transaction. Duplicated: in more than one transaction, or more than
    `outputs_per_input` in one. Lost: the group went past the input (committed a transaction
    after it) and no transaction holds all its outputs."""
    groups = _groups(ctx.readers_with("transformer"))
    if not groups:
        return [not_applicable(kind, "no transformers") for kind in OUTPUT_KINDS]
    why = ctx.unproven(READ_COMMITTED)
    if why:
        return [Finding(kind, True, unknown=True, note=f"{why} of the output") for kind in OUTPUT_KINDS]
    sends = ctx.history.sends
    seen = ctx.seen_by(ctx.reads_by(ctx.readers_with("final", READ_COMMITTED))) > 0
    duplicated, lost = [], []
    for group, members in groups.items():
        outputs = np.flatnonzero(seen & sends["worker"].isin([m.worker for m in members]).to_numpy())
        source = value_id(sends["source_producer"].to_numpy()[outputs], sends["source_seq"].to_numpy()[outputs])
        per_txn = pd.DataFrame({"source": source, "txn": sends["txn"].to_numpy()[outputs]}).groupby(
            ["source", "txn"]).size()
        found = per_txn.groupby(level="source").agg(outputs="sum", transactions="size", fewest="min", most="max")
        expected = members[0].outputs_per_input
        inputs = np.flatnonzero(ctx.visible_mask & (sends["topic"] == members[0].topics[0]).to_numpy())
        vids = sends["vid"].to_numpy()
        table = found.reindex(vids[inputs]).fillna(0).astype(np.int64)
        table.index.name = "vid"
        passed = ctx.bounds[1][inputs] <= _committed_reach(ctx, members, inputs)
        twice = (table["transactions"] > 1) | (table["most"] > expected)
        short = (table["outputs"] > 0) & (table["fewest"] < expected)
        missed = (table["outputs"] == 0) & passed & ~ctx.proven_missing[inputs]
        for rows, out in ((twice, duplicated), (short | missed, lost)):
            found_rows = table[rows.to_numpy()].reset_index()
            found_rows["group"], found_rows["expected"] = group, expected
            out.append(found_rows)
    return [Finding(AnomalyKind.DUPLICATE_OUTPUT, True, pd.concat(duplicated, ignore_index=True)),
            Finding(AnomalyKind.LOST_OUTPUT, True, pd.concat(lost, ignore_index=True))]


def _committed_reach(ctx: Context, members: list[Reader], rows: np.ndarray) -> np.ndarray:
    """One past the highest input offset processed in a committed transaction, per partition."""
    reads = ctx.reads_by(members)
    reads = reads[reads["in_txn"] > 0]
    producers = ctx.history.processes.set_index(["worker", "incarnation"])["producer"]
    keys = pd.MultiIndex.from_arrays([reads["worker"].astype(str), reads["incarnation"]])
    committed_in = pd.DataFrame({"producer": producers.reindex(keys).to_numpy(), "txn": reads["in_txn"].to_numpy()})
    done = ctx.txn_states_of(committed_in) == "committed"
    return _per_partition_max(ctx, reads["tp"].to_numpy()[done], reads["offset"].to_numpy(np.int64)[done] + 1, rows)


def _processing_evidence(ctx: Context, rows: pd.DataFrame, what) -> list[dict]:
    rows = rows.sort_values(["group", "vid"])
    consumers = [r.worker for r in ctx.readers_with("consumer") + ctx.readers_with("sink") + ctx.readers_with("streams")]
    seen = reads_of(ctx, rows["vid"].head(200), consumers)

    def build(row) -> dict:
        members = {r.worker for r in ctx.readers_with() if r.group == row.group
                   and r.role in ("consumer", "sink", "streams")}
        reads = [r for r in seen.get(int(row.vid), []) if r["reader"].rpartition(".")[0] in members]
        facts = send_facts(ctx, row) | {"group": row.group, "reads": reads}
        if getattr(row, "sink", False):
            facts["database_rows"] = _database_rows(ctx, row)
        if getattr(row, "streams", False):
            facts["committed_outputs"] = _committed_outputs(ctx, row)
        facts["explanation"] = what(row, facts)
        facts["cluster"] = cluster_context(ctx, str(row.topic), int(row.partition), int(row.invoke_mono),
                                           int(row.complete_mono))
        return facts

    return rich(ctx, rows, build)


def _committed_outputs(ctx: Context, row) -> list[str]:
    """The Kafka Streams outputs derived from this input that the read_committed final read found."""
    sends = ctx.history.sends
    seen = ctx.seen_by(ctx.reads_by(ctx.readers_with("final", READ_COMMITTED))) > 0
    derived = sends[seen & (np.asarray(value_id(sends["source_producer"], sends["source_seq"])) == row.vid)].head(20)
    return [f"{vid_label(v)} by {w}.{i}" for v, w, i in zip(derived["vid"], derived["worker"], derived["incarnation"])]


def _database_rows(ctx: Context, row) -> list[dict]:
    """The rows of the sinks' table holding this value (the run's database, dumped)."""
    table, _ = ctx.database
    mine = table[(table["grp"] == row.group) & (value_id(table["producer"], table["seq"]) == row.vid)]
    return [{"sink": f"{r.sink}.{r.incarnation}", "txn": int(r.txn), "at": f"{r.topic}-{r.partition}@{r.offset}"}
            for r in mine.head(20).itertuples(index=False)]


@evidence(AnomalyKind.DUPLICATE_PROCESSING)
def duplicate_processing_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    def what(row, f) -> str:
        if "committed_outputs" in f:
            return (f"Kafka Streams application {row.group} committed {int(row.times)} outputs of {f['value']}: "
                    + ", ".join(f["committed_outputs"]) + "; its reads of it: "
                    + ", ".join(f"{r['reader']} at {r['at_s']} s" for r in f["reads"]))
        if "database_rows" in f:
            return (f"group {row.group} wrote {f['value']} into the database {int(row.times)} times: "
                    + ", ".join(f"by {r['sink']} in its transaction {r['txn']}" for r in f["database_rows"]))
        return (f"group {row.group} processed {f['value']} {int(row.times)} times: "
                + ", ".join(f"{r['reader']} at {r['at_s']} s (generation {r['generation']})" for r in f["reads"]))

    return _processing_evidence(ctx, rows, what)


@evidence(AnomalyKind.LOST_PROCESSING)
def lost_processing_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    return _processing_evidence(ctx, rows, lambda row, f: (
        f"{f['value']} at {row.topic}-{row.partition}@{row.offset} was acknowledged, and group {row.group} "
        "went past it (committed, stored or processed later offsets) without ever processing it"))


def _output_evidence(ctx: Context, rows: pd.DataFrame, what) -> list[dict]:
    sends = ctx.history.sends
    rows = rows.sort_values("vid")
    derived_from = value_id(sends["source_producer"], sends["source_seq"])

    def build(row) -> dict:
        derived = sends[derived_from == row.vid]
        outputs = [{"value": vid_label(v), "txn": int(t), "outcome": str(o)}
                   for v, t, o in zip(derived["vid"], derived["txn"], derived["outcome"])]
        return {"input": vid_label(row.vid), "group": row.group, "committed_outputs": int(row.outputs),
                "in_transactions": int(row.transactions), "expected": int(row.expected), "outputs_sent": outputs,
                "explanation": f"input {vid_label(row.vid)} has {int(row.outputs)} committed outputs in "
                               f"{int(row.transactions)} transactions; {what(row)}"}

    return rich(ctx, rows, build)


@evidence(AnomalyKind.DUPLICATE_OUTPUT)
def duplicate_output_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    return _output_evidence(ctx, rows, lambda r: f"exactly {int(r.expected)} in one transaction expected, "
                                                 "it was processed (and committed) more than once")


@evidence(AnomalyKind.LOST_OUTPUT)
def lost_output_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    return _output_evidence(ctx, rows, lambda r: f"{int(r.expected)} in one transaction expected; group "
                                                 f"{r.group} went past it without committing all of its output")


@invariant(AnomalyKind.KEY_ORDER)
def key_order(ctx: Context) -> Finding:
    """Per-key order (seed scenarios 8 and 30): each group must first process a producer's
    records of one key of one topic in the order they were sent. Re-processing after a
    rebalance is duplicate processing, not disorder, so only each value's first processing
    counts."""
    groups = _groups(ctx.readers_with("consumer"))
    if not groups:
        return not_applicable(AnomalyKind.KEY_ORDER, "no consumers")
    sends = ctx.history.sends
    send_keys = _codes(sends["key"])
    rows = []
    for group, members in groups.items():
        reads = ctx.reads_by(members)
        mono = reads["mono"].to_numpy()
        order = np.arange(len(reads)) if not (mono[1:] < mono[:-1]).any() else np.argsort(mono, kind="stable")
        sent = ctx.rows_read(reads)[order]
        if sent.min(initial=0) < 0:  # values no harness producer sent have no key order
            order, sent = order[sent >= 0], sent[sent >= 0]
        key = send_keys[sent]  # a value's key is its send's
        if key.min(initial=0) < 0:
            order, sent, key = order[key >= 0], sent[key >= 0], key[key >= 0]
        if len(sent) and np.bincount(sent).max() > 1:  # each value's first processing only
            first = np.full(len(sends), len(sent), np.int64)
            np.minimum.at(first, sent, np.arange(len(sent)))
            keep = first[sent] == np.arange(len(sent))
            order, sent, key = order[keep], sent[keep], key[keep]
        topic = reads["tp"].to_numpy(np.int64)[order] // ctx.partition_width
        stream = (sends["producer"].to_numpy(np.int64)[sent] << 40) | (topic << 24) | key
        seq = sends["seq"].to_numpy()[sent]
        best = pd.Series(seq).groupby(stream, sort=False).cummax().to_numpy()  # highest seq processed so far
        late = np.flatnonzero(seq < best)
        found = reads.iloc[order[late]].copy()
        found["overtaken_by_seq"] = best[late]
        found["group"] = group
        rows.append(found)
    return Finding(AnomalyKind.KEY_ORDER, True, pd.concat(rows, ignore_index=True))


def _codes(values: pd.Series) -> np.ndarray:
    """A small integer per distinct value, -1 for missing ones."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(np.int64)
    return pd.factorize(values)[0].astype(np.int64)


@evidence(AnomalyKind.KEY_ORDER)
def key_order_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    def build(row) -> dict:
        return {"group": row.group, "key": str(row.key), "value": vid_label(row.vid), "topic": str(row.topic),
                "partition": int(row.partition), "offset": int(row.offset), "reader": f"{row.worker}.{row.incarnation}",
                "at_s": ctx.seconds(row.mono), "overtaken_by": f"p{int(row.producer)}:{int(row.overtaken_by_seq)}",
                "explanation": f"group {row.group} processed {vid_label(row.vid)} (key {row.key}) after "
                               f"p{int(row.producer)}:{int(row.overtaken_by_seq)}, which was sent later"}

    return rich(ctx, rows.sort_values(["group", "vid"]), build)
