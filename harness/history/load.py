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

import os
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harness.history.schema import SCHEMAS, UNKNOWN_OFFSET, SendOutcome, Table, acks, idempotent
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


def _frame(found: Survey, table: Table, plain: tuple[str, ...] = ()) -> pd.DataFrame:
    """All workers' records of one table, with `worker` and `incarnation` columns.

    Strings become categoricals (dictionary-encoded in Arrow, not in Python): a history has
    millions of rows but few distinct topics, keys and outcomes. Those in `plain` stay Arrow
    strings (no encoding at all: for columns nothing groups by).
    """
    parts, owners = [], []
    for history in found.workers:
        data = history.tables[table]
        if data.num_rows:
            parts.append(data)
            owners.append((history.worker, history.incarnation))
    data = pa.concat_tables(parts) if parts else SCHEMAS[table].empty_table()
    data = data.replace_schema_metadata(None)

    def column(field: pa.Field) -> pa.Array:
        """One chunk (encoding then needs no dictionary unification, conversion no copy)."""
        chunks = data.column(field.name).chunks
        whole = chunks[0] if len(chunks) == 1 else pa.concat_arrays(chunks) if chunks else pa.array([], field.type)
        strings = pa.types.is_string(field.type) or pa.types.is_binary(field.type)
        return pc.dictionary_encode(whole) if strings and field.name not in plain else whole

    with executor(data.num_rows) as pool:  # column by column: Arrow frees the GIL
        data = pa.table(list(pool.map(column, data.schema)), names=data.schema.names)
    frame = data.to_pandas(split_blocks=True, types_mapper={pa.string(): pd.ArrowDtype(pa.string())}.get)
    for name in frame.columns[[isinstance(t, pd.CategoricalDtype) for t in frame.dtypes]]:
        # plain Python strings as categories: looking one up (outcome == "ok") then costs nothing
        frame[name] = frame[name].cat.rename_categories(frame[name].cat.categories.astype(object))
    sizes = [len(part) for part in parts]
    workers = sorted({worker for worker, _ in owners})
    codes = np.repeat([workers.index(worker) for worker, _ in owners], sizes).astype(np.int32)
    frame["worker"] = pd.Categorical.from_codes(codes, categories=pd.Index(workers, dtype=object))
    frame["incarnation"] = np.repeat([incarnation for _, incarnation in owners], sizes).astype(np.int32)
    return frame


def load_history(run: RunDir | Path) -> History:
    found = survey(RunDir.of(run))
    processes = _processes(found)
    rows = sum(w.tables[Table.READS].num_rows + w.tables[Table.INVOKES].num_rows for w in found.workers)
    with executor(rows) as pool:  # the reads load beside the sends: Arrow frees the GIL
        reads = pool.submit(lambda: _reads(_frame(found, Table.READS, plain=("key",))))  # key: the send's
        sends = _sends(_frame(found, Table.INVOKES), _frame(found, Table.COMPLETIONS))
        _unknown_offsets(sends, processes)
        return History(
            sends=sends,
            reads=reads.result(),
            transactions=_transactions(_frame(found, Table.TXNS)),
            events=_events(_frame(found, Table.EVENTS)),
            processes=processes,
            damage=found.damage, format=found.format, has_history=found.has_history,
        )


PARALLEL_FROM = 500_000  # rows from which threads pay for themselves


def executor(size: int) -> Executor:
    """Threads when `size` is worth them (numpy and Arrow free the GIL on large arrays), else
    the caller's own thread."""
    return ThreadPoolExecutor(os.cpu_count() or 1) if size >= PARALLEL_FROM else _InPlace()


class _InPlace(Executor):
    """An executor that runs each call at once, in the caller's thread."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001  (handed to whoever asks for the result)
            future.set_exception(exc)
        return future


def _sends(invokes: pd.DataFrame, completions: pd.DataFrame) -> pd.DataFrame:
    """Invocations joined with their completion by value id; -1 marks what a pending send lacks."""
    sends = invokes.rename(columns={"mono": "invoke_mono", "wall": "invoke_wall"})
    sends["source_producer"] = sends["source_producer"].to_numpy(np.int32, na_value=-1)
    sends["source_seq"] = sends["source_seq"].to_numpy(np.int64, na_value=-1)
    sends.insert(0, "vid", value_id(sends["producer"], sends["seq"]))
    if not sends["vid"].is_monotonic_increasing:
        sends = sends.sort_values("vid", kind="stable", ignore_index=True)
    vids = sends["vid"].to_numpy()
    if len(vids) > 1 and (vids[1:] == vids[:-1]).any():  # damage (reported by verify): keep the first
        sends = sends[np.concatenate([[True], vids[1:] != vids[:-1]])].reset_index(drop=True)
    at, found = _rows_of(sends, completions["producer"].to_numpy(), completions["seq"].to_numpy())
    every = bool(found.all())  # (a completion for an invocation not recorded is dropped)
    at = at if every else at[found]

    def joined(values: np.ndarray, fill, dtype) -> np.ndarray:
        out = np.full(len(sends), fill, dtype=dtype)
        out[at] = values if every else values[found]
        return out

    def column(name: str, dtype) -> np.ndarray:
        return joined(completions[name].to_numpy(dtype=dtype, na_value=-1), -1, dtype)

    outcomes = [o.value for o in SendOutcome]
    recoded = np.array([outcomes.index(c) for c in completions["outcome"].cat.categories], dtype=np.int8)
    sends["outcome"] = pd.Categorical.from_codes(joined(recoded[completions["outcome"].cat.codes.to_numpy()],
                                                        outcomes.index(SendOutcome.PENDING.value), np.int8),
                                                 categories=outcomes)
    sends["partition"] = column("partition", np.int32)
    sends["offset"] = column("offset", np.int64)
    errors = completions["error"].cat
    sends["error"] = pd.Categorical.from_codes(joined(errors.codes.to_numpy(), -1, errors.codes.dtype),
                                               categories=errors.categories)
    sends["complete_mono"] = column("mono", np.int64)
    sends["complete_wall"] = column("wall", np.int64)
    sends["latency_ms"] = np.where(sends["complete_mono"] >= 0,
                                   (sends["complete_mono"] - sends["invoke_mono"]) / 1e6, np.nan)
    return sends


def _rows_of(sends: pd.DataFrame, producer: np.ndarray, seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The row of each (producer, seq) in `sends` (sorted by vid), and whether it has one. Each
    producer's sequence numbers run without gaps, so this is arithmetic (else a binary search)."""
    ids, seqs = sends["producer"].to_numpy(), sends["seq"].to_numpy()
    first = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.zeros(0, np.int64)
    count = np.diff(np.r_[first, len(ids)])
    if not len(ids) or (seqs[first + count - 1] - seqs[first] + 1 != count).any() or producer.min(initial=0) < 0:
        vids, wanted = sends["vid"].to_numpy(), value_id(producer, seq)
        at = np.minimum(np.searchsorted(vids, wanted), max(len(vids) - 1, 0))
        return at, (vids[at] == wanted) if len(vids) else np.zeros(len(wanted), dtype=bool)
    slot = np.full(max(int(ids[-1]), int(producer.max(initial=0))) + 1, -1, np.int64)
    slot[ids[first]] = np.arange(len(first))
    which = slot[producer]
    rank = seq - seqs[first][which]
    found = (which >= 0) & (rank >= 0) & (rank < count[which])
    return np.where(found, first[which] + rank, 0), found


def _unknown_offsets(sends: pd.DataFrame, processes: pd.DataFrame) -> None:
    """Acknowledgements whose offset librdkafka made up become UNKNOWN_OFFSET (older runs
    recorded them as reported): every ack of an acks=0 producer (no response: the batch is
    numbered from -1001, so a long one "lands" at 0, 1, ...), and the acks after an offset-less
    one in its batch (an idempotent retry answered DUPLICATE_SEQUENCE_NUMBER: numbered from -1)."""
    offset, ok = sends["offset"].to_numpy().copy(), (sends["outcome"] == SendOutcome.OK.value).to_numpy()
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
    reads.insert(0, "vid", value_id(reads["producer"], reads["seq"]))  # a foreign value: -1 << 40 | -1 == -1
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

    def key(frame: pd.DataFrame) -> np.ndarray:
        return (frame["producer"].to_numpy(np.int64) << 32) | frame["txn"].to_numpy(np.int64)

    def flagged(mask: pd.Series) -> np.ndarray:
        return np.isin(key(out), key(txns)[mask.to_numpy()])

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


def _processes(found: Survey) -> pd.DataFrame:
    """One row per worker incarnation, from its process.json; `acks` (all, 1, 0; None when the
    producer properties were not recorded) and `idempotent` say what its acknowledgements mean."""
    rows = []
    for history in found.workers:
        info = history.info or {}
        config, client = info.get("config") or {}, info.get("producer_client")
        transactional = info.get("kind") == "transformer" or bool(config.get("transactions"))
        rows.append({"worker": history.worker, "incarnation": history.incarnation, "kind": info.get("kind"),
                     "producer": info.get("producer"), "pid": info.get("pid"),
                     "semantics": info.get("semantics"), "config": info.get("config"), "producer_client": client,
                     "acks": "all" if transactional else acks(client),
                     "idempotent": idempotent(client, transactional)})
    return pd.DataFrame(rows, columns=PROCESS_COLUMNS)
