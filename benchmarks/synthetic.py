"""A large realistic history written straight to a run directory, for load and checker benchmarks.

`records` counts operations: half are sends (an invocation row plus its completion row), half
are reads by the final reader (every acked value, partition by partition, in offset order).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from harness.history.schema import SCHEMAS, Table

CHUNK = 1_000_000


def _write(path: Path, table: Table, n: int, columns: dict) -> None:
    schema = SCHEMAS[table]
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for start in range(0, n, CHUNK):
            arrays = [_array(columns.get(field.name), field.type, start, min(n, start + CHUNK))
                      for field in schema]
            writer.write_batch(pa.record_batch(arrays, schema=schema))


def _array(values, type_, start: int, end: int) -> pa.Array:
    if values is None:
        return pa.nulls(end - start, type_)
    if np.isscalar(values):
        return pa.array(np.repeat(values, end - start), type_)
    return pa.array(values[start:end], type_)


def write_history(run_dir: Path, records: int, producers: int = 8, partitions: int = 12, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    sends = records // 2
    per_producer = np.full(producers, sends // producers)
    per_producer[: sends % producers] += 1
    producer = np.repeat(np.arange(1, producers + 1, dtype=np.int32), per_producer)
    seq = np.concatenate([np.arange(n, dtype=np.int64) for n in per_producer])
    partition = rng.integers(0, partitions, sends, dtype=np.int32)
    invoke = np.sort(rng.integers(0, 60 * 10**9, sends)) + 10**12
    latency = rng.integers(1_000_000, 50_000_000, sends)
    keys = np.array([f"k{i}" for i in range(1000)])[rng.integers(0, 1000, sends)]
    # Offsets in completion order within each partition.
    complete = invoke + latency
    order = np.lexsort((complete, partition))
    offset = np.empty(sends, np.int64)
    counts = np.bincount(partition, minlength=partitions)
    offset[order] = np.concatenate([np.arange(c) for c in counts])

    root = Path(run_dir) / "history"
    for p in range(1, producers + 1):
        rows = producer == p
        directory = root / f"p{p}.1"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "process.json").write_text(json.dumps({"kind": "producer", "producer": p}))
        _write(directory / "invokes.arrows", Table.INVOKES, int(rows.sum()), {
            "producer": producer[rows], "seq": seq[rows], "txn": 0, "topic": "bench", "key": keys[rows],
            "size": 100, "mono": invoke[rows], "wall": invoke[rows]})
        _write(directory / "completions.arrows", Table.COMPLETIONS, int(rows.sum()), {
            "producer": producer[rows], "seq": seq[rows], "outcome": "ok", "partition": partition[rows],
            "offset": offset[rows], "mono": complete[rows], "wall": complete[rows]})
    reader = root / "final-read-uncommitted.1"
    reader.mkdir(parents=True, exist_ok=True)
    (reader / "process.json").write_text(json.dumps({"kind": "final-read"}))
    reads = records - sends
    take = order[:reads] if reads <= sends else np.resize(order, reads)
    _write(reader / "reads.arrows", Table.READS, reads, {
        "topic": "bench", "partition": partition[take], "offset": offset[take], "key": keys[take],
        "producer": producer[take], "seq": seq[take], "txn": 0, "leader_epoch": 0, "generation": 0,
        "in_txn": 0, "mono": complete[take] + 10**11, "wall": complete[take] + 10**11})
    _write(reader / "events.arrows", Table.EVENTS, partitions, {
        "kind": np.array(["end"] * partitions), "topic": "bench", "partition": np.arange(partitions, dtype=np.int32),
        "offset": counts.astype(np.int64), "mono": 2 * 10**12, "wall": 2 * 10**12})
