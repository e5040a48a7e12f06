"""A run's history as pandas DataFrames (the schema is documented in docs/HISTORY.md).

    history = load(run_dir)
    history.sends          one row per send invocation, joined with its outcome
    history.reads          one row per record a consumer, transformer or final reader saw
    history.transactions   one row per transaction, with its outcome
    history.events         client events: starts, stops, assignments, commits, final-read ends
    history.processes      one row per worker incarnation

A history file cut short by SIGKILL is read up to its last complete batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harness.history.schema import SCHEMAS, UNKNOWN_OFFSET, Outcome, Table, acks, idempotent

HISTORY_DIR = "history"
_PRODUCER_SHIFT = 40  # vid = producer << 40 | seq: one int64 naming a send invocation


@dataclass
class History:
    sends: pd.DataFrame
    reads: pd.DataFrame
    transactions: pd.DataFrame
    events: pd.DataFrame
    processes: pd.DataFrame


def value_id(producer, seq):
    """The int64 naming a send invocation (vectorised over arrays)."""
    return (np.asarray(producer, dtype=np.int64) << _PRODUCER_SHIFT) | np.asarray(seq, dtype=np.int64)


def read_stream(path: Path) -> pa.Table:
    """Every complete record batch of one stream file (empty if the writer died before any)."""
    schema = SCHEMAS[Table(path.stem)]
    batches = []
    try:
        with pa.ipc.open_stream(pa.memory_map(str(path))) as reader:
            while True:
                batches.append(reader.read_next_batch())
    except StopIteration:
        pass
    except (OSError, pa.ArrowInvalid):
        pass  # a batch cut short by SIGKILL, or a file with not even its schema
    return pa.Table.from_batches(batches, schema=schema)


def worker_dirs(run_dir: Path) -> list[Path]:
    root = Path(run_dir) / HISTORY_DIR
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def split_dir_name(directory: Path) -> tuple[str, int]:
    worker, _, incarnation = directory.name.rpartition(".")
    return worker, int(incarnation)


def read_table(run_dir: Path, table: Table) -> pd.DataFrame:
    """All workers' records of one table, with `worker` and `incarnation` columns.

    Strings become categoricals (dictionary-encoded in Arrow, not in Python): a history has
    millions of rows but few distinct topics, keys and outcomes.
    """
    parts, owners = [], []
    for directory in worker_dirs(run_dir):
        path = directory / f"{table}.arrows"
        if path.exists():
            parts.append(read_stream(path))
            owners.append(split_dir_name(directory))
    data = pa.concat_tables(parts) if parts else SCHEMAS[table].empty_table()
    for i, field in enumerate(data.schema):
        if pa.types.is_string(field.type) or pa.types.is_binary(field.type):
            data = data.set_column(i, field.name, pc.dictionary_encode(data.column(i)))
    frame = data.to_pandas()
    sizes = [len(part) for part in parts]
    workers = sorted({worker for worker, _ in owners})
    codes = np.repeat([workers.index(worker) for worker, _ in owners], sizes).astype(np.int32)
    frame["worker"] = pd.Categorical.from_codes(codes, categories=workers)
    frame["incarnation"] = np.repeat([incarnation for _, incarnation in owners], sizes).astype(np.int32)
    return frame


def load(run_dir: Path) -> History:
    run_dir = Path(run_dir)
    processes = _processes(run_dir)
    sends = _sends(read_table(run_dir, Table.INVOKES), read_table(run_dir, Table.COMPLETIONS))
    _unknown_offsets(sends, processes)
    return History(
        sends=sends,
        reads=_reads(read_table(run_dir, Table.READS)),
        transactions=_transactions(read_table(run_dir, Table.TXNS)),
        events=_events(read_table(run_dir, Table.EVENTS)),
        processes=processes,
    )


def _sends(invokes: pd.DataFrame, completions: pd.DataFrame) -> pd.DataFrame:
    """Invocations joined with their completion by value id; -1 marks what a pending send lacks."""
    sends = invokes.rename(columns={"mono": "invoke_mono", "wall": "invoke_wall"})
    sends["source_producer"] = sends["source_producer"].fillna(-1).astype(np.int32)
    sends["source_seq"] = sends["source_seq"].fillna(-1).astype(np.int64)
    sends.insert(0, "vid", value_id(sends["producer"], sends["seq"]))
    if not sends["vid"].is_monotonic_increasing:
        sends = sends.sort_values("vid", kind="stable", ignore_index=True)
    at = pd.Index(sends["vid"]).get_indexer(value_id(completions["producer"], completions["seq"]))
    done, at = completions[at >= 0], at[at >= 0]

    def joined(values, fill, dtype) -> np.ndarray:
        out = np.full(len(sends), fill, dtype=dtype)
        out[at] = np.asarray(values)
        return out

    outcomes = [o.value for o in Outcome]
    recoded = np.array([outcomes.index(c) for c in done["outcome"].cat.categories], dtype=np.int8)
    outcome_codes = joined(recoded[done["outcome"].cat.codes.to_numpy()] if len(done) else [],
                           outcomes.index(Outcome.PENDING.value), np.int8)
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


def _unknown_offsets(sends: pd.DataFrame, processes: pd.DataFrame) -> None:
    """Acknowledgements whose offset librdkafka made up become UNKNOWN_OFFSET (older runs
    recorded them as reported): every ack of an acks=0 producer (no response: the batch is
    numbered from -1001, so a long one "lands" at 0, 1, ...), and the acks after an offset-less
    one in its batch (an idempotent retry answered DUPLICATE_SEQUENCE_NUMBER: numbered from -1)."""
    offset, ok = sends["offset"].to_numpy().copy(), (sends["outcome"] == Outcome.OK.value).to_numpy()
    fire_and_forget = processes.loc[processes["acks"] == "0", "producer"].dropna().astype(np.int64)
    if len(fire_and_forget):
        offset[ok & sends["producer"].isin(fire_and_forget).to_numpy()] = UNKNOWN_OFFSET
    offsetless = ok & (offset < 0)
    if offsetless.any():
        producer, partition = sends["producer"].to_numpy(np.int64), sends["partition"].to_numpy(np.int64)
        rows = np.flatnonzero(ok & np.isin(producer, np.unique(producer[offsetless])))
        groups = (producer[rows] << 32) | partition[rows]
        order = np.argsort(groups, kind="stable")  # sends are in seq order: it stays within a group
        rows, groups = rows[order], groups[order]
        offset[rows[_numbered_from_minus_one(offset[rows], groups)]] = UNKNOWN_OFFSET
        sends["offset"] = offset
    elif len(fire_and_forget):
        sends["offset"] = offset


def _numbered_from_minus_one(offsets: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Which acks, in delivery order per group, continue a batch numbered from -1: the k-th ack
    after an offset-less one, when every ack between them reads 0, 1, ..., k-1 too."""
    at = np.arange(len(offsets))
    first = np.maximum.accumulate(np.where(np.r_[True, groups[1:] != groups[:-1]], at, 0))
    unknown = offsets < 0
    last_unknown = np.maximum.accumulate(np.where(unknown, at, -1))
    fits = ~unknown & (last_unknown >= first) & (offsets == at - last_unknown - 1)
    last_misfit = np.maximum.accumulate(np.where(~unknown & ~fits, at, -1))
    return fits & (last_misfit < last_unknown)


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


PROCESS_COLUMNS = ["worker", "incarnation", "kind", "producer", "pid", "semantics", "config", "producer_client",
                   "acks", "idempotent"]


def _processes(run_dir: Path) -> pd.DataFrame:
    """One row per worker incarnation, from its process.json; `acks` (all, 1, 0; None when the
    producer properties were not recorded) and `idempotent` say what its acknowledgements mean."""
    rows = []
    for directory in worker_dirs(run_dir):
        worker, incarnation = split_dir_name(directory)
        info_file = directory / "process.json"
        info = json.loads(info_file.read_text()) if info_file.exists() else {}
        config, client = info.get("config") or {}, info.get("producer_client")
        transactional = info.get("kind") == "transformer" or bool(config.get("transactions"))
        rows.append({"worker": worker, "incarnation": incarnation, "kind": info.get("kind"),
                     "producer": info.get("producer"), "pid": info.get("pid"),
                     "semantics": info.get("semantics"), "config": info.get("config"), "producer_client": client,
                     "acks": "all" if transactional else acks(client),
                     "idempotent": idempotent(client, transactional)})
    return pd.DataFrame(rows, columns=PROCESS_COLUMNS)
