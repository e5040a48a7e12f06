"""A Kafka Streams application's state (seed scenarios 6, 23, 27): each key's final count must
be what the input implies.

The application counts inputs per key and publishes the count with each output
(harness.workload.streams). A key's final state is the count of its last committed output: the
one at the highest offset the read_committed final read found (a key's outputs share one
partition). What the input implies is bounded from both sides:

- overcounted-state: the count is above the number of distinct input values of that key the
  application could have read (acknowledged or seen by any reader; under read_committed, none
  of an aborted transaction). Each was counted once at most, so more is an input counted twice.
  Only where every input of the key came from an idempotent producer: a retry without
  idempotence can be written twice, one value in two input records, each rightly counted.
- undercounted-state: the count is below the number of distinct visible inputs of that key the
  application went past (below one past the highest input offset with a committed output, in
  their partition). Each of those must be in the count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checker.context import READ_COMMITTED, Context
from harness.checker.evidence import rich
from harness.checker.invariants.processing import _groups, _per_partition_max, committed_processing
from harness.checker.model import AnomalyKind
from harness.checker.registry import Finding, evidence, invariant, not_applicable
from harness.rundir import RunDir

KINDS = (AnomalyKind.OVERCOUNTED_STATE, AnomalyKind.UNDERCOUNTED_STATE)


@invariant(*KINDS)
def streams_state(ctx: Context) -> list[Finding]:
    groups = _groups(ctx.readers_with("streams"))
    if not groups:
        return [not_applicable(kind, "no Kafka Streams applications") for kind in KINDS]
    why = ctx.unproven(READ_COMMITTED)
    if why:
        return [Finding(kind, True, unknown=True, note=f"{why} of the output") for kind in KINDS]
    try:
        counts = _output_counts(ctx)
    except MissingRecord as exc:
        return [Finding(kind, True, unknown=True, note=str(exc)) for kind in KINDS]
    over, under, unbounded = [], [], 0
    for group, members in groups.items():
        table = final_states(ctx, members, counts)
        table["group"] = group
        above = table["state"] > table["possible"]
        over.append(table[above & table["bounded"]])
        under.append(table[table["state"] < table["passed"]])
        unbounded += int((above & ~table["bounded"]).sum())
    over = pd.concat(over, ignore_index=True)
    overcounted = Finding(AnomalyKind.OVERCOUNTED_STATE, True, over, unknown=unbounded > 0, note=(
        f"{unbounded} keys count more than their distinct inputs, some from a producer without idempotence: "
        "its retry can be written twice, one send in two input records, so they cannot be judged"
        if unbounded else ""))
    return [overcounted, Finding(AnomalyKind.UNDERCOUNTED_STATE, True, pd.concat(under, ignore_index=True))]


class MissingRecord(Exception):
    """A Kafka Streams instance's record (streams.jsonl), which holds the counts, is missing."""


def _output_counts(ctx: Context) -> pd.DataFrame:
    """(producer, seq) -> count of every output the run's Kafka Streams instances recorded."""
    from harness.workload.streams import counts  # only runs with Kafka Streams workers need it

    processes = ctx.history.processes
    frames = []
    for row in processes[processes["kind"] == "streams"].itertuples(index=False):
        directory = RunDir(ctx.run_dir).worker(str(row.worker), int(row.incarnation))
        if not directory.streams_facts.is_file():
            raise MissingRecord(f"{RunDir(ctx.run_dir).relative(directory.streams_facts)} is missing: "
                                "the counts cannot be judged")
        frames.append(counts(directory, int(row.producer)))
    return pd.concat(frames, ignore_index=True) if frames else counts_frame()


def counts_frame() -> pd.DataFrame:
    return pd.DataFrame({"producer": [], "seq": [], "key": [], "count": []}).astype(
        {"producer": "int64", "seq": "int64", "count": "int64"})


def final_states(ctx: Context, members, counts: pd.DataFrame) -> pd.DataFrame:
    """Per key of the application's input: its final count (0: no committed output), the
    distinct inputs it could have counted (`possible`), those it must have (`passed`), whether
    `possible` bounds the count (`bounded`: every input from an idempotent producer), and where
    its last output is."""
    sends = ctx.history.sends
    names = [m.worker for m in members]
    finals = ctx.reads_by(ctx.readers_with("final", READ_COMMITTED))
    rows = ctx.rows_read(finals)
    mine = rows >= 0
    mine[mine] = np.isin(sends["worker"].to_numpy()[rows[mine]].astype(str), names)
    outputs = pd.DataFrame({"producer": sends["producer"].to_numpy(np.int64)[rows[mine]],
                            "seq": sends["seq"].to_numpy(np.int64)[rows[mine]],
                            "out_tp": finals["tp"].to_numpy(np.int64)[mine],
                            "out_offset": finals["offset"].to_numpy(np.int64)[mine]})
    outputs = outputs.drop_duplicates(["out_tp", "out_offset"]).merge(counts, on=["producer", "seq"], how="left")
    last = outputs.sort_values(["out_tp", "out_offset"]).groupby("key", sort=False).tail(1).set_index("key")

    is_input = sends["topic"].isin([m.topics[0] for m in members]).to_numpy() & sends["key"].notna().to_numpy()
    readable = ctx.acked | ctx.seen_anywhere
    if members[0].isolation == READ_COMMITTED:
        readable &= ctx.txn_states_of(sends) != "aborted"
    _, processed = committed_processing(ctx, members)
    inputs = np.flatnonzero(is_input)
    reach = _per_partition_max(ctx, processed["tp"].to_numpy(), processed["offset"].to_numpy(np.int64) + 1, inputs)
    passed = ctx.visible_mask[inputs] & (ctx.bounds[1][inputs] <= reach)
    frame = pd.DataFrame({"key": sends["key"].to_numpy()[inputs].astype(str), "vid": sends["vid"].to_numpy()[inputs],
                          "possible": readable[inputs], "passed": passed,
                          "idempotent": ctx.idempotent[sends["producer"].to_numpy(np.int64)[inputs]]})
    per_key = frame.groupby("key").agg(possible=("possible", "sum"), passed=("passed", "sum"),
                                       bounded=("idempotent", "all"))
    keys = per_key.index.union(last.index)
    table = per_key[["possible", "passed"]].reindex(keys).fillna(0).astype(np.int64)
    table["bounded"] = per_key["bounded"].reindex(keys).fillna(True).astype(bool)
    table["state"] = last["count"].reindex(keys).fillna(0).astype(np.int64)
    table["producer"] = last["producer"].reindex(keys).fillna(-1).astype(np.int64)
    table["seq"] = last["seq"].reindex(keys).fillna(-1).astype(np.int64)
    table["out_tp"] = last["out_tp"].reindex(keys).fillna(-1).astype(np.int64)
    table["out_offset"] = last["out_offset"].reindex(keys).fillna(-1).astype(np.int64)
    table.index.name = "key"
    return table.reset_index()


def _state_evidence(ctx: Context, rows: pd.DataFrame, what) -> list[dict]:
    def build(row) -> dict:
        where = "no committed output"
        if row.out_tp >= 0:
            topic, partition = ctx.tp_name(int(row.out_tp))
            where = f"p{int(row.producer)}:{int(row.seq)} at {topic}-{partition}@{int(row.out_offset)}"
        return {"group": row.group, "key": str(row.key), "state": int(row.state), "last_output": where,
                "distinct_inputs_readable": int(row.possible), "distinct_inputs_passed": int(row.passed),
                "explanation": f"application {row.group}: key {row.key} ends at count {int(row.state)} "
                               f"(last committed output {where}); {what(row)}"}

    return rich(ctx, rows.sort_values(["group", "key"]), build)


@evidence(AnomalyKind.OVERCOUNTED_STATE)
def overcounted_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    return _state_evidence(ctx, rows, lambda r: f"only {int(r.possible)} distinct inputs of that key could have "
                                                "been read: some were counted more than once")


@evidence(AnomalyKind.UNDERCOUNTED_STATE)
def undercounted_evidence(ctx: Context, rows: pd.DataFrame) -> list[dict]:
    return _state_evidence(ctx, rows, lambda r: f"it went past {int(r.passed)} distinct visible inputs of that "
                                                "key: some were never counted")
