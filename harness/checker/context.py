"""The facts every invariant shares, derived once from a run directory.

Who read with which isolation level and in which group; how far each final reader proved it
read each partition; which transactions committed (a read_committed read of any part proves
the whole committed); which acknowledged sends must therefore be visible.
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
from harness.semantics import Semantics

READ_COMMITTED = "read_committed"
READ_UNCOMMITTED = "read_uncommitted"


@dataclass(frozen=True)
class Reader:
    worker: str
    role: str  # final | consumer | transformer
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
        self._reads_by: dict[tuple[str, ...], pd.DataFrame] = {}
        # Partitions as small integers, one column per table: joins become array lookups.
        frames = (history.sends, history.reads, history.events)
        self.topics = sorted({name for frame in frames for name in _names(frame["topic"])})
        self.partition_width = 1 + max([int(f["partition"].max()) for f in frames if f["partition"].notna().any()],
                                       default=0)
        for frame in frames:
            frame["tp"] = self.tp(frame["topic"], frame["partition"])

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

    # ---- who read what --------------------------------------------------------------------

    def readers_with(self, role: str | None = None, isolation: str | None = None) -> list[Reader]:
        return [r for r in self.readers.values()
                if (role is None or r.role == role) and (isolation is None or r.isolation == isolation)]

    def reads_by(self, readers: list[Reader]) -> pd.DataFrame:
        names = tuple(sorted(r.worker for r in readers))
        if names not in self._reads_by:
            reads = self.history.reads
            self._reads_by[names] = reads[reads["worker"].isin(names)]
        return self._reads_by[names]

    @cached_property
    def final_reads(self) -> pd.DataFrame:
        return self.reads_by(self.readers_with("final"))

    @cached_property
    def proofs(self) -> pd.DataFrame:
        """Per final reader and partition: log start, the end it had to reach and whether it did.

        Columns: worker, isolation, topic, partition, log_start, target, end (-1: not proven).
        """
        events = self.history.events
        finals = [r.worker for r in self.readers_with("final")]
        ev = events[events["worker"].isin(finals)]
        keys = ["worker", "topic", "partition"]

        def offsets(kind: str) -> pd.Series:
            rows = ev[ev["kind"] == kind]
            return rows.groupby(keys, observed=True)["offset"].max()

        frame = pd.DataFrame({"target": offsets("target"), "log_start": offsets("log-start"),
                              "end": offsets("end")}).reset_index()
        if frame.empty:
            return pd.DataFrame(columns=[*keys, "isolation", "log_start", "target", "end", "tp"])
        frame["end"] = frame["end"].fillna(-1).astype(np.int64)
        frame["log_start"] = frame["log_start"].fillna(0).astype(np.int64)
        frame["target"] = frame["target"].fillna(-1).astype(np.int64)
        frame["worker"] = frame["worker"].astype(str)
        frame["topic"] = frame["topic"].astype(str)
        frame["isolation"] = frame["worker"].map(lambda w: self.readers[w].isolation)
        frame["tp"] = self.tp(frame["topic"], frame["partition"])
        return frame

    @cached_property
    def disk(self) -> tuple[list[dict], pd.DataFrame] | None:
        """The brokers' segment files as scanned after the run (`disk/`), values indexed by vid;
        None when the run has none (the orchestrator scans only when writes went missing)."""
        stored = read_disk(self.run_dir)
        if stored is None:
            return None
        scanned, values = stored
        return scanned, values.set_index("vid").sort_index()

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
        if in_txn.any() and len(self.transaction_state):
            keys = pd.MultiIndex.from_arrays([frame["producer"].to_numpy()[in_txn], frame["txn"].to_numpy()[in_txn]])
            out[in_txn] = self.transaction_state.reindex(keys).fillna("indeterminate").to_numpy()
        elif in_txn.any():
            out[in_txn] = "indeterminate"
        return out

    @cached_property
    def must_be_visible(self) -> pd.DataFrame:
        """Acknowledged sends outside transactions or in committed ones: every reader must see them."""
        sends = self.history.sends
        return sends[self.visible_mask]

    @cached_property
    def visible_mask(self) -> np.ndarray:
        sends = self.history.sends
        states = self.txn_states_of(sends)
        return (sends["outcome"] == "ok").to_numpy() & ((states == "none") | (states == "committed"))

    # ---- values to send rows --------------------------------------------------------------

    def rows_of(self, vids: np.ndarray) -> np.ndarray:
        """The row in `sends` of each value id, -1 for ids no invocation has.

        Sends are sorted by vid; when every producer's sequence numbers run without gaps (they
        do, as workers write them) this is arithmetic, not a hash join.
        """
        vids = np.asarray(vids, dtype=np.int64)
        base, low, count = self._dense_producers
        if base is None:  # binary search in the sorted ids instead
            sorted_vids = self.history.sends["vid"].to_numpy()
            if not len(sorted_vids):
                return np.full(len(vids), -1, np.int64)
            at = np.minimum(np.searchsorted(sorted_vids, vids), len(sorted_vids) - 1)
            return np.where(sorted_vids[at] == vids, at, -1)
        producer = np.clip(vids >> 40, 0, len(base) - 1)
        seq = (vids & ((1 << 40) - 1)) - low[producer]
        ok = (vids >= 0) & (vids >> 40 < len(base)) & (seq >= 0) & (seq < count[producer])
        return np.where(ok, base[producer] + seq, -1)

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

    def seen_by(self, reads: pd.DataFrame) -> np.ndarray:
        """Per send row: how many of `reads` are of its value."""
        rows = self.rows_of(reads["vid"].to_numpy())
        return np.bincount(rows[rows >= 0], minlength=len(self.history.sends))

    @cached_property
    def seen_anywhere(self) -> np.ndarray:
        """Per send row: whether any reader ever saw its value."""
        return self.seen_by(self.history.reads) > 0

    # ---- partitions as integers -----------------------------------------------------------

    @property
    def partitions(self) -> int:
        """How many distinct tp codes there can be."""
        return max(1, len(self.topics)) * self.partition_width

    def tp(self, topics: pd.Series, partitions: pd.Series) -> np.ndarray:
        """A small integer per (topic, partition), -1 where either is missing."""
        if isinstance(topics.dtype, pd.CategoricalDtype):
            lookup = np.array([self._topic_code(c) for c in topics.cat.categories] + [-1], np.int64)
            codes = lookup[topics.cat.codes.to_numpy()]  # code -1 (missing) picks the trailing -1
        else:
            codes = np.array([self._topic_code(t) for t in topics], dtype=np.int64)
        parts = pd.to_numeric(partitions).fillna(-1).to_numpy(np.int64)
        return np.where((codes >= 0) & (parts >= 0) & (parts < self.partition_width),
                        codes * self.partition_width + parts, -1)

    def _topic_code(self, topic) -> int:
        try:
            return self.topics.index(str(topic))
        except ValueError:
            return -1

    def tp_name(self, tp: int) -> tuple[str, int]:
        return self.topics[int(tp) // self.partition_width], int(tp) % self.partition_width

    def covered(self, rows: pd.DataFrame, isolation: str | None = None) -> np.ndarray:
        """Which rows (tp, offset) some final reader proved it read: log start <= offset < end."""
        tp, offsets = rows["tp"].to_numpy(), rows["offset"].to_numpy(np.int64)
        out = np.zeros(len(rows), dtype=bool)
        proofs = self.proofs[self.proofs["end"] >= 0]
        if isolation:
            proofs = proofs[proofs["isolation"] == isolation]
        for _, proof in proofs.groupby("worker"):
            start, end = np.zeros(self.partitions + 1, np.int64), np.full(self.partitions + 1, -1, np.int64)
            start[proof["tp"].to_numpy()], end[proof["tp"].to_numpy()] = proof["log_start"], proof["end"]
            out |= (offsets >= start[tp]) & (offsets < end[tp])  # tp -1 hits the spare last slot
        return out


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

