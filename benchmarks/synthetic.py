"""A large realistic history written straight to a run directory, for load and checker benchmarks.

`records` counts operations, a third each: sends (an invocation row plus its completion row),
records processed by a consumer group, records seen by the final read. `anomalies` plants that
many of each of: lost writes, duplicates in the log, out-of-order sends, duplicate processing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from harness.history.schema import SCHEMAS, Table

CHUNK = 1_000_000
TOPIC = "bench"
PLANTED = ("lost-write", "duplicate", "nonmonotonic-send", "duplicate-processing")


def _write(path: Path, table: Table, n: int, columns: dict) -> None:
    schema = SCHEMAS[table]
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for start in range(0, n, CHUNK):
            end = min(n, start + CHUNK)
            arrays = [_array(columns.get(field.name), field.type, start, end) for field in schema]
            writer.write_batch(pa.record_batch(arrays, schema=schema))


def _array(values, type_, start: int, end: int) -> pa.Array:
    if values is None:
        return pa.nulls(end - start, type_)
    if np.isscalar(values):
        return pa.array(np.repeat(values, end - start), type_)
    return pa.array(values[start:end], type_)


def _describe(directory: Path, info: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "process.json").write_text(json.dumps({"semantics": "at-least-once", **info}))


def write_history(run_dir: Path, records: int, anomalies: int = 0, producers: int = 8, partitions: int = 12,
                  seed: int = 0) -> dict[str, int]:
    """Write the run; returns how many of each planted anomaly kind it holds."""
    rng = np.random.default_rng(seed)
    sends = records // 3
    producer = np.repeat(np.arange(1, producers + 1, dtype=np.int32), np.diff(np.linspace(0, sends, producers + 1).astype(int)))
    seq = np.arange(sends, dtype=np.int64) - np.searchsorted(producer, producer, side="left")
    key = rng.integers(0, 1000, sends)
    partition = (key % partitions).astype(np.int32)  # a key always goes to the same partition, as in Kafka
    invoke = np.sort(rng.integers(0, 60 * 10**9, sends)) + 10**12
    complete = invoke + rng.integers(1_000_000, 50_000_000, sends)
    keys = np.array([f"k{i}" for i in range(1000)])[key]
    # The log: offsets in send order within each partition (as an idempotent producer keeps them).
    order = np.lexsort((invoke, partition))
    counts = np.bincount(partition, minlength=partitions)
    offset = np.empty(sends, np.int64)
    offset[order] = np.concatenate([np.arange(c) for c in counts])

    planted = dict.fromkeys(PLANTED, 0)
    if anomalies:
        # Out-of-order sends: swap the offsets of a producer's consecutive sends to one partition.
        same = np.flatnonzero((producer[order][1:] == producer[order][:-1]) & (partition[order][1:] == partition[order][:-1]))
        pairs = rng.choice(same[::2], anomalies, replace=False)
        a, b = order[pairs], order[pairs + 1]
        offset[a], offset[b] = offset[b].copy(), offset[a].copy()
        planted["nonmonotonic-send"] = anomalies

    root = Path(run_dir) / "history"
    for p in range(1, producers + 1):
        rows = producer == p
        directory = root / f"p{p}.1"
        _describe(directory, {"kind": "producer", "producer": p, "config": {}})
        n = int(rows.sum())
        _write(directory / "invokes.arrows", Table.INVOKES, n, {
            "producer": producer[rows], "seq": seq[rows], "txn": 0, "topic": TOPIC, "key": keys[rows],
            "size": 100, "mono": invoke[rows], "wall": invoke[rows]})
        _write(directory / "completions.arrows", Table.COMPLETIONS, n, {
            "producer": producer[rows], "seq": seq[rows], "outcome": "ok", "partition": partition[rows],
            "offset": offset[rows], "mono": complete[rows], "wall": complete[rows]})

    in_log = np.lexsort((offset, partition))  # every record, in log order
    lost = rng.choice(in_log, anomalies, replace=False) if anomalies else np.array([], dtype=np.int64)
    kept = np.setdiff1d(in_log, lost, assume_unique=True)
    kept = kept[np.lexsort((offset[kept], partition[kept]))]
    planted["lost-write"] = len(lost)

    # The consumer group: processes the log, partitions interleaved; re-reads some after a rebalance.
    consumed = kept[np.argsort(offset[kept], kind="stable")]
    again = consumed[partition[consumed] == 0][:anomalies]  # a rebalance re-reads a stretch of partition 0
    planted["duplicate-processing"] = len(again)
    rows = np.concatenate([consumed, again])
    generation = np.concatenate([np.ones(len(consumed), np.int32), np.full(len(again), 2, np.int32)])
    at = np.concatenate([np.sort(complete[consumed]) + 10**6, np.full(len(again), complete.max() + 10**9)])
    consumer = root / "c1.1"
    _describe(consumer, {"kind": "consumer", "config": {"isolation": "read_uncommitted", "topics": [TOPIC],
                                                         "group": "g1"}})
    _reads(consumer, rows, partition, offset, keys, producer, seq, generation, at)
    _write(consumer / "events.arrows", Table.EVENTS, partitions, {
        "kind": "commit", "phase": "ok", "topic": TOPIC, "partition": np.arange(partitions, dtype=np.int32),
        "offset": counts.astype(np.int64), "generation": 2, "mono": at.max(), "wall": at.max()})

    # The final read: every record left in the log, plus duplicates written at each partition's end.
    dup = rng.choice(kept, anomalies, replace=False) if anomalies else np.array([], dtype=np.int64)
    dup_partition = partition[dup]
    dup_offset = counts[dup_partition] + np.array([np.sum(dup_partition[:i] == dup_partition[i]) for i in range(len(dup))],
                                                  dtype=np.int64)
    ends = counts + np.bincount(dup_partition, minlength=partitions)
    planted["duplicate"] = len(dup)
    final = root / "final-read-uncommitted.1"
    _describe(final, {"kind": "final-read", "config": {"isolation": "read_uncommitted", "topics": [TOPIC]}})
    read_offset = offset.copy()
    rows = np.concatenate([kept, dup])
    offsets = np.concatenate([offset[kept], dup_offset])
    _reads(final, rows, partition, read_offset, keys, producer, seq, 0, complete.max() + 2 * 10**9,
           offsets=offsets)
    kinds = np.repeat(np.array(["log-start", "target", "end"]), partitions)
    _write(final / "events.arrows", Table.EVENTS, 3 * partitions, {
        "kind": kinds, "topic": TOPIC, "partition": np.tile(np.arange(partitions, dtype=np.int32), 3),
        "offset": np.concatenate([np.zeros(partitions, np.int64), ends, ends]),
        "mono": complete.max() + 3 * 10**9, "wall": complete.max() + 3 * 10**9})
    return planted


def _reads(directory: Path, rows, partition, offset, keys, producer, seq, generation, at, offsets=None) -> None:
    _write(directory / "reads.arrows", Table.READS, len(rows), {
        "topic": TOPIC, "partition": partition[rows], "offset": offset[rows] if offsets is None else offsets,
        "key": keys[rows], "producer": producer[rows], "seq": seq[rows], "txn": 0, "leader_epoch": 0,
        "generation": generation, "in_txn": 0, "mono": at, "wall": at})
