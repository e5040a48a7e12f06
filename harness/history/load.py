"""A run's history as pandas DataFrames (the schema is documented in docs/HISTORY.md).

    history = load_history(run_dir)
    history.sends          one row per send invocation, joined with its outcome
    history.reads          one row per record a consumer, transformer or final reader saw
    history.transactions   one row per transaction, with its outcome
    history.events         client events: starts, stops, assignments, commits, final-read ends
    history.processes      one row per worker incarnation
    history.damage         what is damaged or missing (harness.history.verify): the tables hold
                           only what is intact, so a judgement on them is UNKNOWN where it matters

A history file cut short by SIGKILL is read up to its last complete batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harness.history.schema import SCHEMAS, SendOutcome, Table
from harness.history.verify import Damage, Survey, read_stream_file, survey
from harness.rundir import RunDir

__all__ = ["Damage", "History", "load_history", "read_stream", "value_id"]
_PRODUCER_SHIFT = 40  # vid = producer << 40 | seq: one int64 naming a send invocation


@dataclass
class History:
    sends: pd.DataFrame
    reads: pd.DataFrame
    transactions: pd.DataFrame
    events: pd.DataFrame
    processes: pd.DataFrame
    damage: list[Damage] = field(default_factory=list)
    format: int = 1
    has_history: bool = True  # the run directory has a history directory


def value_id(producer, seq):
    """The int64 naming a send invocation (vectorised over arrays)."""
    return (np.asarray(producer, dtype=np.int64) << _PRODUCER_SHIFT) | np.asarray(seq, dtype=np.int64)


def read_stream(path: Path) -> pa.Table:
    """Every intact record batch of one stream file (empty if the writer died before any)."""
    return read_stream_file(Path(path), Table(Path(path).stem)).table


def _frame(found: Survey, table: Table) -> pd.DataFrame:
    """All workers' records of one table, with `worker` and `incarnation` columns.

    Strings become categoricals (dictionary-encoded in Arrow, not in Python): a history has
    millions of rows but few distinct topics, keys and outcomes.
    """
    parts, owners = [], []
    for history in found.workers:
        data = history.tables[table]
        if data.num_rows:
            parts.append(data)
            owners.append((history.worker, history.incarnation))
    data = pa.concat_tables(parts) if parts else SCHEMAS[table].empty_table()
    data = data.replace_schema_metadata(None)
    for i, column in enumerate(data.schema):
        if pa.types.is_string(column.type) or pa.types.is_binary(column.type):
            data = data.set_column(i, column.name, pc.dictionary_encode(data.column(i)))
    frame = data.to_pandas()
    sizes = [len(part) for part in parts]
    workers = sorted({worker for worker, _ in owners})
    codes = np.repeat([workers.index(worker) for worker, _ in owners], sizes).astype(np.int32)
    frame["worker"] = pd.Categorical.from_codes(codes, categories=workers)
    frame["incarnation"] = np.repeat([incarnation for _, incarnation in owners], sizes).astype(np.int32)
    return frame


def load_history(run: RunDir | Path) -> History:
    found = survey(RunDir.of(run))
    return History(
        sends=_sends(_frame(found, Table.INVOKES), _frame(found, Table.COMPLETIONS)),
        reads=_reads(_frame(found, Table.READS)),
        transactions=_transactions(_frame(found, Table.TXNS)),
        events=_events(_frame(found, Table.EVENTS)),
        processes=_processes(found),
        damage=found.damage, format=found.format, has_history=found.has_history,
    )


def _sends(invokes: pd.DataFrame, completions: pd.DataFrame) -> pd.DataFrame:
    """Invocations joined with their completion by value id; -1 marks what a pending send lacks."""
    sends = invokes.rename(columns={"mono": "invoke_mono", "wall": "invoke_wall"})
    sends["source_producer"] = sends["source_producer"].fillna(-1).astype(np.int32)
    sends["source_seq"] = sends["source_seq"].fillna(-1).astype(np.int64)
    sends.insert(0, "vid", value_id(sends["producer"], sends["seq"]))
    if not sends["vid"].is_monotonic_increasing:
        sends = sends.sort_values("vid", kind="stable", ignore_index=True)
    vids = sends["vid"].to_numpy()
    if len(vids) > 1 and (vids[1:] == vids[:-1]).any():  # damage (reported by verify): keep the first
        sends = sends[np.concatenate([[True], vids[1:] != vids[:-1]])].reset_index(drop=True)
    at = pd.Index(sends["vid"]).get_indexer(value_id(completions["producer"], completions["seq"]))
    done, at = completions[at >= 0], at[at >= 0]

    def joined(values, fill, dtype) -> np.ndarray:
        out = np.full(len(sends), fill, dtype=dtype)
        out[at] = np.asarray(values)
        return out

    outcomes = [o.value for o in SendOutcome]
    recoded = np.array([outcomes.index(c) for c in done["outcome"].cat.categories], dtype=np.int8)
    outcome_codes = joined(recoded[done["outcome"].cat.codes.to_numpy()] if len(done) else [],
                           outcomes.index(SendOutcome.PENDING.value), np.int8)
    sends["outcome"] = pd.Categorical.from_codes(outcome_codes, categories=outcomes)
    sends["partition"] = joined(done["partition"].fillna(-1), -1, np.int32)
    sends["offset"] = joined(done["offset"].fillna(-1), -1, np.int64)
    errors = done["error"].cat
    sends["error"] = pd.Categorical.from_codes(joined(errors.codes, -1, errors.codes.dtype),
                                               categories=errors.categories)
    sends["complete_mono"] = joined(done["mono"], -1, np.int64)
    sends["complete_wall"] = joined(done["wall"], -1, np.int64)
    sends["latency_ms"] = np.where(sends["complete_mono"] >= 0,
                                   (sends["complete_mono"] - sends["invoke_mono"]) / 1e6, np.nan)
    return sends


def _reads(reads: pd.DataFrame) -> pd.DataFrame:
    ours = reads["producer"].to_numpy() >= 0
    vid = np.where(ours, value_id(reads["producer"], reads["seq"]), -1)
    reads.insert(0, "vid", vid)
    return reads


def _events(events: pd.DataFrame) -> pd.DataFrame:
    """Events carry a partition, offset or generation only sometimes: nullable integers."""
    return events.astype({"partition": "Int32", "offset": "Int64", "generation": "Int32"})


def _transactions(txns: pd.DataFrame) -> pd.DataFrame:
    """One row per (producer, txn): begin time, the end asked for, and what came of it.

    outcome: committed (commit ok) · aborted (abort ok) · indeterminate (commit asked, never
    confirmed: it may have committed) · unfinished (neither asked: the coordinator aborts it).
    """
    columns = ["worker", "incarnation", "producer", "txn", "begin_mono", "end_mono", "intent", "outcome", "error"]
    if txns.empty:
        return pd.DataFrame(columns=columns)
    action, phase = txns["action"].astype(str), txns["phase"].astype(str)
    keys = ["producer", "txn"]
    grouped = txns.groupby(keys, observed=True, sort=True)
    out = grouped.agg(worker=("worker", "first"), incarnation=("incarnation", "first"),
                      begin_mono=("mono", "min"), end_mono=("mono", "max")).reset_index()

    def flagged(mask: pd.Series) -> pd.Series:
        hit = txns.loc[mask, keys].drop_duplicates()
        return pd.MultiIndex.from_frame(out[keys]).isin(pd.MultiIndex.from_frame(hit))

    committed = flagged((action == "commit") & (phase == "ok"))
    aborted = flagged((action == "abort") & (phase == "ok"))
    commit_asked = flagged(action == "commit")
    abort_asked = flagged(action == "abort")
    out["intent"] = np.select([abort_asked, commit_asked], ["abort", "commit"], "none")
    out["outcome"] = np.select([aborted, committed, commit_asked], ["aborted", "committed", "indeterminate"],
                               "unfinished")
    errors = txns[txns["error"].notna()].groupby(keys, observed=True)["error"].last()
    out["error"] = out.set_index(keys).index.map(errors.to_dict()).astype(object)
    return out[columns]


def _processes(found: Survey) -> pd.DataFrame:
    rows = []
    for history in found.workers:
        info = history.info or {}
        rows.append({"worker": history.worker, "incarnation": history.incarnation, "kind": info.get("kind"),
                     "producer": info.get("producer"), "pid": info.get("pid"),
                     "semantics": info.get("semantics"), "config": info.get("config")})
    return pd.DataFrame(rows, columns=["worker", "incarnation", "kind", "producer", "pid", "semantics", "config"])
