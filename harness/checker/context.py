"""The facts every invariant shares, derived once from a run directory.

Who read with which isolation level and in which group; how far each final reader proved it
read each partition; which transactions committed (a read_committed read of any part proves
the whole committed); which acknowledged sends must therefore be visible; where in its
partition each acknowledged value can be (`bounds`), also when its acknowledgement carried no
offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import UsageError
from harness.events import MAX_RUN_SPAN_NS, read_events
from harness.history.disk import read as read_disk
from harness.history.load import History, load_history
from harness.history.schema import SendOutcome
from harness.semantics import Semantics

READ_COMMITTED = "read_committed"
READ_UNCOMMITTED = "read_uncommitted"
NO_BOUND = np.int64(1) << 62  # the upper end of a value nothing places


@dataclass(frozen=True)
class Reader:
    worker: str
    role: str  # final | consumer | transformer | sink | streams
    isolation: str
    group: str  # consumer group (a manually assigned consumer is a group of its own)
    topics: tuple[str, ...]
    output: str | None = None
    outputs_per_input: int = 1


def _reader(worker: str, kind: str, config: dict) -> Reader | None:
    if kind == "final-read":
        return Reader(worker, "final", config["isolation"], worker, tuple(config["topics"]))
    if kind == "consumer":
        return Reader(worker, "consumer", config["isolation"], config.get("group") or worker, tuple(config["topics"]))
    if kind == "transformer":
        return Reader(worker, "transformer", READ_COMMITTED, config["group"], (config["input"],),
                      config["output"], config.get("outputs_per_input", 1))
    if kind == "sink":
        return Reader(worker, "sink", READ_COMMITTED, config["group"], (config["input"],))
    if kind == "streams":  # a Kafka Streams instance: its application id is its group
        isolation = READ_COMMITTED if config["processing_guarantee"] == "exactly_once_v2" else READ_UNCOMMITTED
        return Reader(worker, "streams", isolation, config["application"], (config["input"],), config["output"])
    return None


class Context:
    def __init__(self, run_dir: Path, history: History, semantics: Semantics):
        self.run_dir = Path(run_dir)
        self.history = history
        self.semantics = semantics
        self.readers: dict[str, Reader] = {}
        for row in history.processes.itertuples(index=False):
            reader = _reader(row.worker, row.kind, row.config or {})
            if reader:
                self.readers[row.worker] = reader
        # Partitions as small integers, one column per table: joins become array lookups.
        frames = (history.sends, history.reads, history.events)
        self.topics = sorted({name for frame in frames for name in _names(frame["topic"])})
        self.partition_width = 1 + max([int(f["partition"].max()) for f in frames if f["partition"].notna().any()],
                                       default=0)
        for frame in frames:
            frame["tp"] = self.tp(frame["topic"], frame["partition"])
        # Rows are addressed by position: subsets keep their labels, so `.index` finds them again.
        assert all(isinstance(f.index, pd.RangeIndex) and f.index.start == 0 for f in frames)
        self.sends_tp = history.sends["tp"].to_numpy()

    def prepare(self) -> None:
        """Derive the facts most checks share, so that checks running side by side need not
        wait for one another to derive them."""
        for fact in ("acked", "read_rows", "seen_anywhere", "visible_mask", "proofs", "_read_runs"):
            getattr(self, fact)

    @classmethod
    def from_run(cls, run_dir: Path, semantics: Semantics | None = None) -> "Context":
        history = load_history(run_dir)
        return cls(run_dir, history, semantics or infer_semantics(history))

    # ---- time -----------------------------------------------------------------------------

    @cached_property
    def start_mono(self) -> int:
        return run_start(self.history, self.run_events)

    def seconds(self, mono) -> float:
        return round((int(mono) - self.start_mono) / 1e9, 3)

    @cached_property
    def run_events(self) -> list[dict]:
        """The run's event log (phases, faults, observer events), when there is one."""
        return read_events(self.run_dir)

    # ---- producers ------------------------------------------------------------------------

    @cached_property
    def acked(self) -> np.ndarray:
        """Per send row: acknowledged (`offset` -1: the ack carried no offset)."""
        return (self.history.sends["outcome"] == SendOutcome.OK.value).to_numpy()

    @cached_property
    def idempotent(self) -> np.ndarray:
        """Per producer id: whether it writes each partition in order (idempotence, transactions)."""
        processes = self.history.processes.dropna(subset=["producer"])
        ids = processes["producer"].astype(np.int64).to_numpy()
        out = np.zeros(1 + max(ids.max(initial=0), self.history.sends["producer"].to_numpy().max(initial=0)), bool)
        out[ids] = processes["idempotent"].astype(bool).to_numpy()
        return out

    @cached_property
    def fire_and_forget(self) -> list[str]:
        """Workers whose producer ran with acks=0 and sent something: their acks carry no offset."""
        processes = self.history.processes.dropna(subset=["producer"])
        sent = np.flatnonzero(np.bincount(self.history.sends["producer"].to_numpy())) if len(self.history.sends) else []
        chosen = processes[(processes["acks"] == "0") & processes["producer"].isin(sent)]
        return sorted(set(chosen["worker"]))

    # ---- who read what --------------------------------------------------------------------

    def readers_with(self, role: str | None = None, isolation: str | None = None) -> list[Reader]:
        return [r for r in self.readers.values()
                if (role is None or r.role == role) and (isolation is None or r.isolation == isolation)]

    @cached_property
    def _read_runs(self) -> list[tuple[str, int, int]]:
        """(worker, first row, end row) of each worker incarnation's reads, which are contiguous."""
        reads = self.history.reads
        codes, incarnation = reads["worker"].cat.codes.to_numpy(), reads["incarnation"].to_numpy()
        changes = (codes[1:] != codes[:-1]) | (incarnation[1:] != incarnation[:-1])
        starts = np.flatnonzero(np.r_[True, changes]) if len(codes) else np.array([], np.int64)
        ends = np.r_[starts[1:], len(codes)]
        names = reads["worker"].cat.categories
        return [(str(names[codes[s]]), int(s), int(e)) for s, e in zip(starts, ends)]

    def reads_by(self, readers: list[Reader]) -> pd.DataFrame:
        """The reads of these readers, as slices of `history.reads` (no copy for one worker)."""
        names = {r.worker for r in readers}
        spans: list[list[int]] = []
        for worker, start, end in self._read_runs:
            if worker in names:
                if spans and spans[-1][1] == start:
                    spans[-1][1] = end
                else:
                    spans.append([start, end])
        reads = self.history.reads
        if len(spans) == 1:
            return reads.iloc[spans[0][0]:spans[0][1]]
        return pd.concat([reads.iloc[s:e] for s, e in spans]) if spans else reads.iloc[:0]

    @cached_property
    def final_reads(self) -> pd.DataFrame:
        return self.reads_by(self.readers_with("final"))

    @cached_property
    def read_rows(self) -> np.ndarray:
        """Per read: the row in `sends` of the value read, -1 for a value no invocation has."""
        reads = self.history.reads
        return self._rows(reads["producer"].to_numpy(), reads["seq"].to_numpy())

    def rows_read(self, reads: pd.DataFrame) -> np.ndarray:
        """`read_rows` of a subset of `history.reads`."""
        index = reads.index
        if isinstance(index, pd.RangeIndex):  # a slice: a view, no copy
            return self.read_rows[index.start:index.stop:index.step]
        return self.read_rows[index.to_numpy()]

    def seen_by(self, reads: pd.DataFrame) -> np.ndarray:
        """Per send row: how many of `reads` (a subset of `history.reads`) are of its value."""
        rows = self.rows_read(reads)
        return np.bincount(rows[rows >= 0], minlength=len(self.history.sends))

    @cached_property
    def seen_anywhere(self) -> np.ndarray:
        """Per send row: whether any reader ever saw its value."""
        rows = self.read_rows
        seen = np.zeros(len(self.history.sends), dtype=bool)
        seen[rows[rows >= 0]] = True
        return seen

    # ---- what the final read proved -------------------------------------------------------

    @cached_property
    def proofs(self) -> pd.DataFrame:
        """Per final reader and partition: log start, the end it had to reach, and `proven`: the
        offset below which it read everything (its end when it reached it; where it stopped when
        it did not; -1 when it recorded neither). `complete`: it reached the end.

        Columns: worker, isolation, topic, partition, tp, log_start, target, proven, complete.
        """
        events = self.history.events
        finals = [r.worker for r in self.readers_with("final")]
        ev = events[events["worker"].isin(finals)]
        keys = ["worker", "topic", "partition"]

        columns = [*keys, "isolation", "tp", "log_start", "target", "proven", "complete"]
        ev = ev[ev["kind"].isin(["target", "log-start", "end", "incomplete"])]
        if ev.empty:
            return pd.DataFrame(columns=columns)
        by_kind = ev.assign(kind=ev["kind"].astype(str)).groupby([*keys, "kind"], observed=True)["offset"].max()
        frame = by_kind.unstack("kind").reindex(columns=["target", "log-start", "end", "incomplete"])
        frame = frame.rename(columns={"log-start": "log_start", "incomplete": "stopped"}).reset_index()
        frame["complete"] = frame["end"].notna().to_numpy()
        frame["log_start"] = frame["log_start"].fillna(0).astype(np.int64)
        frame["target"] = frame["target"].fillna(-1).astype(np.int64)
        frame["proven"] = frame["end"].fillna(frame["stopped"]).fillna(-1).astype(np.int64)
        frame["worker"] = frame["worker"].astype(str)
        frame["topic"] = frame["topic"].astype(str)
        frame["isolation"] = frame["worker"].map(lambda w: self.readers[w].isolation)
        frame["tp"] = self.tp(frame["topic"], frame["partition"])
        return frame[columns]

    def unproven(self, isolation: str | None = None) -> str:
        """Why the final read (of `isolation`) proves nothing, or "" when it proves something:
        a partition read to its end, or read part of the way."""
        if not self.readers_with("final", isolation):
            return f"no {isolation} final read" if isolation else "no final read: nothing proves what the log holds"
        proofs = self.proofs if isolation is None else self.proofs[self.proofs["isolation"] == isolation]
        if not (proofs["complete"] | (proofs["proven"] > proofs["log_start"])).any():
            return "the final read proved no partition's end, nor read any part of one"
        return ""

    def covered(self, rows: np.ndarray, isolation: str | None = None) -> np.ndarray:
        """Which send rows (positions) some final reader proved it read wherever their value can
        be: log start <= lo and hi <= proven (`bounds`)."""
        lo, hi = self.bounds
        lo, hi, tp = lo[rows], hi[rows], self.sends_tp[rows]
        out = np.zeros(len(rows), dtype=bool)
        proofs = self.proofs if isolation is None else self.proofs[self.proofs["isolation"] == isolation]
        for _, proof in proofs.groupby("worker"):
            start, proven = np.zeros(self.partitions + 1, np.int64), np.full(self.partitions + 1, -1, np.int64)
            start[proof["tp"].to_numpy()], proven[proof["tp"].to_numpy()] = proof["log_start"], proof["proven"]
            out |= (lo >= start[tp]) & (hi <= proven[tp])  # tp -1 hits the spare last slot
        return out

    # ---- where each acknowledged value is -------------------------------------------------

    @cached_property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per send row, [lo, hi): the offsets of its acknowledged partition its value can
        occupy if it is still in the log. An offset x from the ack: [x, x + 1). An ack without
        one (acks=0; an idempotent retry answered DUPLICATE_SEQUENCE_NUMBER): where a reader
        found the value; else below the lowest offset of any value sent to the partition after
        the ack (the log ended there or lower when the ack came) and, for an idempotent producer
        (it writes each partition in order), between its own neighbouring writes there.
        Not acknowledged: [0, NO_BOUND)."""
        offset = self.history.sends["offset"].to_numpy()
        known = self.acked & (offset >= 0)
        lo = np.where(known, offset, 0).astype(np.int64)
        hi = np.where(known, offset + 1, NO_BOUND).astype(np.int64)
        unknown = np.flatnonzero(self.acked & (offset < 0))
        if len(unknown):
            self._place(unknown, known, lo, hi)
        return lo, hi

    def _place(self, unknown: np.ndarray, known: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        sends, reads = self.history.sends, self.history.reads
        rows = self.read_rows
        hit = np.flatnonzero(rows >= 0)
        read_tp = reads["tp"].to_numpy()[hit]
        hit, read_tp = (x[(self.sends_tp[rows[hit]] < 0) | (self.sends_tp[rows[hit]] == read_tp)] for x in (hit, read_tp))
        found = np.full(len(sends), NO_BOUND, np.int64)  # the lowest offset a reader found it at
        np.minimum.at(found, rows[hit], reads["offset"].to_numpy(np.int64)[hit])
        placed = unknown[found[unknown] < NO_BOUND]
        lo[placed], hi[placed] = found[placed], found[placed] + 1
        rest = unknown[found[unknown] == NO_BOUND]
        if not len(rest):
            return
        # Where every send is known to be, whatever its outcome: its ack's offset, or where it was read.
        tp = self.sends_tp.copy()
        tp[rows[hit]] = np.where(tp[rows[hit]] < 0, read_tp, tp[rows[hit]])
        position = np.where(known, sends["offset"].to_numpy(), np.where(found < NO_BOUND, found, -1))
        position[tp < 0] = -1
        hi[rest] = np.minimum(hi[rest], self._lowest_sent_after(rest, tp, position))
        before, after = self._neighbours(rest, tp, position)
        lo[rest], hi[rest] = np.maximum(lo[rest], before + 1), np.minimum(hi[rest], after)

    def _lowest_sent_after(self, rows: np.ndarray, tp: np.ndarray, position: np.ndarray) -> np.ndarray:
        """Per row: the lowest known position of a value sent to its partition after its ack."""
        sends = self.history.sends
        invoked, acked_at = sends["invoke_mono"].to_numpy(), sends["complete_mono"].to_numpy()
        placed = np.flatnonzero(position >= 0)
        placed = placed[np.lexsort((invoked[placed], tp[placed]))]
        placed_tp, when = tp[placed], invoked[placed]
        # Suffix minimum of positions, per partition: a partition's codes sort below the next one's.
        shift = np.int64(1) << 42
        suffix = np.minimum.accumulate((placed_tp * shift + position[placed])[::-1])[::-1]
        out = np.full(len(rows), NO_BOUND, np.int64)
        for code in np.unique(tp[rows]):
            mine = tp[rows] == code
            first, end = np.searchsorted(placed_tp, code), np.searchsorted(placed_tp, code, side="right")
            at = first + np.searchsorted(when[first:end], acked_at[rows[mine]], side="right")
            inside = at < end
            lowest = np.full(int(mine.sum()), NO_BOUND, np.int64)
            lowest[inside] = suffix[at[inside]] - code * shift
            out[mine] = lowest
        return out

    def _neighbours(self, rows: np.ndarray, tp: np.ndarray, position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row of an idempotent producer: the known positions of that producer's previous
        and next writes to the partition (-1 / NO_BOUND when none or not idempotent)."""
        producer = self.history.sends["producer"].to_numpy(np.int64)
        before, after = np.full(len(rows), -1, np.int64), np.full(len(rows), NO_BOUND, np.int64)
        idempotent = self.idempotent[producer[rows]]
        if not idempotent.any():
            return before, after
        mine = np.flatnonzero(np.isin(producer, np.unique(producer[rows[idempotent]])) & (tp >= 0))
        group = (producer[mine] << 32) | tp[mine]
        order = np.argsort(group, kind="stable")  # sends are in seq order: it stays so per group
        mine, group = mine[order], group[order]
        at = np.arange(len(mine))
        first = np.maximum.accumulate(np.where(np.r_[True, group[1:] != group[:-1]], at, 0))
        last = np.minimum.accumulate(np.where(np.r_[group[1:] != group[:-1], True], at, len(at))[::-1])[::-1]
        has = position[mine] >= 0
        prev = np.maximum.accumulate(np.where(has, at, -1))
        nxt = np.minimum.accumulate(np.where(has, at, len(at))[::-1])[::-1]
        index = np.full(len(producer), -1, np.int64)
        index[mine] = at
        at_row = index[rows[idempotent]]
        p, n = prev[at_row], nxt[at_row]
        before[idempotent] = np.where(p >= first[at_row], position[mine[np.maximum(p, 0)]], -1)
        after[idempotent] = np.where(n <= last[at_row], position[mine[np.minimum(n, len(at) - 1)]], NO_BOUND)
        return before, after

    # ---- transactions and visibility ------------------------------------------------------

    @cached_property
    def transaction_state(self) -> pd.Series:
        """(producer, txn) -> committed | aborted | indeterminate.

        committed: the commit was acknowledged, or a read_committed reader saw any of its
        records (it cannot see an uncommitted one). aborted: aborted, or never asked to commit.
        """
        txns = self.history.transactions
        if txns.empty:
            return pd.Series(dtype=object)
        state = txns.set_index(["producer", "txn"])["outcome"].map(
            {"committed": "committed", "aborted": "aborted", "unfinished": "aborted",
             "indeterminate": "indeterminate"})
        seen = self.reads_by(self.readers_with(isolation=READ_COMMITTED))
        seen = seen[seen["txn"] > 0][["producer", "txn"]].drop_duplicates()
        proven = pd.MultiIndex.from_frame(seen)
        state[state.index.isin(proven) & (state == "indeterminate")] = "committed"
        return state

    def txn_states_of(self, frame: pd.DataFrame) -> np.ndarray:
        """The transaction state of each row (producer, txn); 'none' where txn is 0."""
        out = np.full(len(frame), "none", dtype=object)
        in_txn = frame["txn"].to_numpy() > 0
        if not in_txn.any():
            return out
        keys, states = self._transaction_keys
        wanted = (frame["producer"].to_numpy(np.int64)[in_txn] << 32) | frame["txn"].to_numpy(np.int64)[in_txn]
        at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
        known = (keys[at] == wanted) if len(keys) else np.zeros(len(wanted), dtype=bool)
        out[in_txn] = np.where(known, states[at] if len(keys) else "indeterminate", "indeterminate")
        return out

    @cached_property
    def _transaction_keys(self) -> tuple[np.ndarray, np.ndarray]:
        """`transaction_state` as sorted producer << 32 | txn keys and their states."""
        state = self.transaction_state
        if not len(state):
            return np.zeros(0, np.int64), np.zeros(0, dtype=object)
        keys = (state.index.get_level_values(0).to_numpy(np.int64) << 32) | state.index.get_level_values(1).to_numpy(
            np.int64)
        order = np.argsort(keys)
        return keys[order], state.to_numpy()[order]

    @cached_property
    def must_be_visible(self) -> pd.DataFrame:
        """Acknowledged sends outside transactions or in committed ones: every reader must see them."""
        sends = self.history.sends
        return sends[self.visible_mask]

    @cached_property
    def visible_mask(self) -> np.ndarray:
        sends = self.history.sends
        if not (sends["txn"].to_numpy() > 0).any():
            return self.acked
        states = self.txn_states_of(sends)
        return self.acked & ((states == "none") | (states == "committed"))

    @cached_property
    def missing(self) -> np.ndarray:
        """Per send row: it must be visible, yet no reader ever saw it."""
        return self.visible_mask & ~self.seen_anywhere

    @cached_property
    def proven_missing(self) -> np.ndarray:
        """Per send row: missing, and provably not in the log: the final read read everywhere it
        can be, or the segment files of every replica prove it gone (`absent_on_disk`)."""
        rows = np.flatnonzero(self.missing)
        covered = self.covered(rows)
        gone = self.absent_on_disk(rows[~covered])
        out = np.zeros(len(self.history.sends), dtype=bool)
        out[rows[covered]] = True
        out[rows[~covered][gone]] = True
        return out

    # ---- what sinks wrote --------------------------------------------------------------------

    @cached_property
    def database(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The sinks' rows and stored offsets as dumped at the end of the run
        (harness.database.table); DumpError when the dump is missing or damaged."""
        from harness.database.table import read  # only runs with sinks have one

        return read(self.run_dir)

    # ---- the brokers' segment files -------------------------------------------------------

    @cached_property
    def disk(self) -> tuple[list[dict], pd.DataFrame] | None:
        """The brokers' segment files as scanned after the run (`disk/`), values indexed by vid;
        None when the run has none (the orchestrator scans only when writes went missing)."""
        stored = read_disk(self.run_dir)
        if stored is None:
            return None
        scanned, values = stored
        return scanned, values.set_index("vid").sort_index()

    def absent_on_disk(self, rows: np.ndarray) -> np.ndarray:
        """Which send rows the disk scan proves gone: their partition's replicas were all read
        whole (no compressed batch skipped), none holds the value, and each holds a value
        acknowledged before this one was sent, so retention removed nothing where it would be.
        All False without a scan."""
        out = np.zeros(len(rows), dtype=bool)
        if self.disk is None or not len(rows):
            return out
        scanned, values = self.disk
        sends = self.history.sends
        held = set(values.index.intersection(pd.Index(sends["vid"].to_numpy()[rows])))
        value_rows = self.rows_of(values.index.to_numpy())
        stored = pd.DataFrame({"node": values["node"].to_numpy(), "topic": values["topic"].astype(str).to_numpy(),
                               "partition": values["partition"].to_numpy(),
                               "acked_at": sends["complete_mono"].to_numpy()[np.maximum(value_rows, 0)]})
        stored = stored[(value_rows >= 0) & self.acked[np.maximum(value_rows, 0)]]
        earliest = stored.groupby(["node", "topic", "partition"])["acked_at"].min().to_dict()
        replicas: dict[tuple[str, int], list[dict]] = {}
        for entry in scanned:
            replicas.setdefault((entry["topic"], int(entry["partition"])), []).append(entry)
        topic, partition = sends["topic"].to_numpy(), sends["partition"].to_numpy()
        invoked, vids = sends["invoke_mono"].to_numpy(), sends["vid"].to_numpy()
        for i, row in enumerate(rows):
            holders = [e for e in replicas.get((str(topic[row]), int(partition[row])), []) if e["replica"]]
            out[i] = (bool(holders) and int(vids[row]) not in held
                      and all(e["compressed_batches"] == 0 for e in holders)
                      and all(earliest.get((e["node"], str(topic[row]), int(partition[row])), invoked[row])
                              < invoked[row] for e in holders))
        return out

    # ---- values to send rows --------------------------------------------------------------

    def rows_of(self, vids: np.ndarray) -> np.ndarray:
        """The row in `sends` of each value id, -1 for ids no invocation has.

        Sends are sorted by vid; when every producer's sequence numbers run without gaps (they
        do, as workers write them) this is arithmetic, not a hash join.
        """
        vids = np.asarray(vids, dtype=np.int64)
        return np.where(vids >= 0, self._rows(vids >> 40, vids & ((1 << 40) - 1)), -1)

    def _rows(self, producer: np.ndarray, seq: np.ndarray) -> np.ndarray:
        """`rows_of` for (producer, seq) pairs (producer -1: not one of ours)."""
        base, low, count = self._dense_producers
        if base is None:  # binary search in the sorted ids instead
            vids = (producer.astype(np.int64) << 40) | seq
            sorted_vids = self.history.sends["vid"].to_numpy()
            if not len(sorted_vids):
                return np.full(len(vids), -1, np.int64)
            at = np.minimum(np.searchsorted(sorted_vids, vids), len(sorted_vids) - 1)
            return np.where((sorted_vids[at] == vids) & (producer >= 0), at, -1)
        if not len(producer):
            return np.zeros(0, np.int64)
        if producer.min() < 0 or producer.max() >= len(base):  # values that are not ours
            known = (producer >= 0) & (producer < len(base))
            rows = self._rows(np.where(known, producer, 0), seq)
            rows[~known] = -1
            return rows
        rank = seq - low[producer]
        rows = rank + base[producer]
        outside = (rank < 0) | (rank >= count[producer])
        if outside.any():
            rows[outside] = -1
        return rows

    @cached_property
    def _dense_producers(self):
        """(first row, lowest seq, count) per producer id, or Nones if some producer has gaps."""
        sends = self.history.sends
        if sends.empty:
            return np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64)
        stats = sends.groupby("producer", sort=True)["seq"].agg(["min", "max", "size"])
        if ((stats["max"] - stats["min"] + 1) != stats["size"]).any():
            return None, None, None
        size = int(stats.index.max()) + 1
        base, low, count = np.zeros(size, np.int64), np.zeros(size, np.int64), np.zeros(size, np.int64)
        producers = stats.index.to_numpy()
        base[producers] = np.concatenate([[0], np.cumsum(stats["size"].to_numpy())[:-1]])
        low[producers], count[producers] = stats["min"], stats["size"]
        return base, low, count

    # ---- partitions as integers -----------------------------------------------------------

    @property
    def partitions(self) -> int:
        """How many distinct tp codes there can be."""
        return max(1, len(self.topics)) * self.partition_width

    def tp(self, topics: pd.Series, partitions: pd.Series) -> np.ndarray:
        """A small integer per (topic, partition), -1 where either is missing."""
        width = self.partition_width
        if isinstance(topics.dtype, pd.CategoricalDtype):
            lookup = np.array([self._topic_code(c) * width for c in topics.cat.categories] + [-width], np.int64)
            base = lookup[topics.cat.codes.to_numpy()]  # code -1 (missing) picks the trailing -width
        else:
            base = np.array([self._topic_code(t) for t in topics], dtype=np.int64) * width
        parts = partitions.to_numpy(np.int64, na_value=-1) if partitions.hasnans else partitions.to_numpy(np.int64)
        codes = base + parts
        if len(codes) and (base.min() < 0 or parts.min() < 0 or parts.max() >= width):
            codes[(base < 0) | (parts < 0) | (parts >= width)] = -1
        return codes

    def _topic_code(self, topic) -> int:
        try:
            return self.topics.index(str(topic))
        except ValueError:
            return -1

    def tp_name(self, tp: int) -> tuple[str, int]:
        return self.topics[int(tp) // self.partition_width], int(tp) % self.partition_width


def stable_order(groups: np.ndarray, bound: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """An order that brings each group's rows together, keeping them in their order, and the
    group of each row in that order. Groups are few: numbered (unless `bound` says they already
    are, 0 <= group < bound), they sort by radix."""
    codes = groups if bound is not None else _dense_codes(groups)
    if (bound if bound is not None else int(codes.max(initial=0)) + 1) <= 1 << 16:
        order = np.argsort(codes.astype(np.uint16), kind="stable")
    else:
        order = np.argsort(codes, kind="stable")
    return order, groups[order]


def _dense_codes(groups: np.ndarray) -> np.ndarray:
    """A small number per distinct group (not in order): the groups less their minimum when they
    span a small range, else a hash factorization."""
    if not len(groups):
        return groups
    low, high = int(groups.min()), int(groups.max())
    if high - low < 1 << 16:
        return groups - low
    return pd.factorize(groups)[0]


def _names(series: pd.Series) -> list[str]:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return [str(c) for c in series.cat.categories]
    return [str(v) for v in series.dropna().unique()]


def infer_semantics(history: History) -> Semantics:
    """The semantics the workers ran with (all of them share one), from their process.json."""
    found = set(history.processes["semantics"].dropna())
    if len(found) != 1:
        raise UsageError(f"cannot tell the run's semantics from its workers (found {sorted(found) or 'none'}): "
                         "give --semantics")
    return Semantics(found.pop())


def run_start(history: History, run_events: list[dict]) -> int:
    """The first moment anything in the run happened: times in evidence and reports count from here."""
    candidates = [history.sends["invoke_mono"].min(), history.reads["mono"].min(), history.events["mono"].min()]
    candidates = [int(c) for c in candidates if pd.notna(c)]
    logged = [e["mono"] for e in run_events[:1]]
    if logged and (not candidates or abs(logged[0] - min(candidates)) <= MAX_RUN_SPAN_NS):  # else not this run's log
        candidates += logged
    return min(candidates) if candidates else 0
