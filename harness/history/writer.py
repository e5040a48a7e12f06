"""Append-only history files: Arrow IPC streams written in batches.

Each write is a complete record batch handed to the OS (unbuffered file), so a worker killed
with SIGKILL leaves every batch written so far readable; only rows still buffered in memory are
lost. Invocations are written before the sends they describe are handed to the client, so a
killed producer leaves indeterminate sends, never unknown ones.

Every batch carries its checksum and its number in the worker's sequence of writes (across all
its files), and a clean close ends each stream with an end mark (how many batches and rows it
holds), so a reader proves a history whole instead of assuming it: a killed worker can lose only
its last write (harness.history.verify, docs/HISTORY.md).
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pyarrow as pa

from harness.history.schema import CRC_KEY, END_KEY, FORMAT, FORMAT_KEY, OWNER_KEY, SCHEMAS, WRITE_KEY, Table
from harness.history.seal import batch_crc, seal
from harness.rundir import WorkerDir

FLUSH_INTERVAL_S = 0.1


class StreamFile:
    """One Arrow IPC stream, appended a record batch at a time."""

    def __init__(self, path: Path, schema: pa.Schema, numbers=None):
        self.schema = schema.with_metadata({FORMAT_KEY: str(FORMAT).encode(), OWNER_KEY: path.parent.name.encode()})
        self._file = open(path, "wb", buffering=0)
        self._writer = pa.ipc.new_stream(self._file, self.schema)
        self._numbers = numbers or itertools.count(1)  # shared by a worker's files: one sequence of writes
        self.batches = self.rows = 0

    def write(self, columns: dict[str, list]) -> None:
        batch = pa.record_batch([pa.array(columns[field.name], type=field.type) for field in self.schema],
                                schema=self.schema)
        self._write(batch, {})
        self.batches += 1
        self.rows += batch.num_rows

    def _write(self, batch: pa.RecordBatch, metadata: dict) -> None:
        metadata |= {CRC_KEY: str(batch_crc(batch)).encode(), WRITE_KEY: str(next(self._numbers)).encode()}
        self._writer.write_batch(batch, custom_metadata=metadata)

    def close(self) -> None:
        """The end mark, then the end-of-stream marker: this stream is whole."""
        end = pa.record_batch([pa.array([], type=field.type) for field in self.schema], schema=self.schema)
        self._write(end, {END_KEY: json.dumps({"batches": self.batches, "rows": self.rows}).encode()})
        self._writer.close()
        self._file.close()


class HistoryWriter:
    """The history of one worker incarnation, in `directory`.

    Rows are buffered per table in column lists; hot paths append to `columns(table)` directly
    (the lists are cleared in place on flush, so references stay valid).
    """

    def __init__(self, directory: WorkerDir | Path):
        self.directory = WorkerDir.of(directory)
        self.directory.path.mkdir(parents=True, exist_ok=True)
        numbers = itertools.count(1)  # every batch of every file, in the order written
        self._files = {kind: StreamFile(self.directory.stream(kind), SCHEMAS[kind], numbers) for kind in Table}
        self._buffers = {kind: {name: [] for name in SCHEMAS[kind].names} for kind in Table}
        self._last_flush = time.monotonic()

    def describe(self, info: dict) -> None:
        """Write process.json: who this worker is (kind, name, incarnation, producer id, config),
        with its checksum."""
        self.directory.process.write_text(json.dumps(seal(info), indent=2))

    def columns(self, table: Table) -> dict[str, list]:
        return self._buffers[table]

    def row(self, table: Table, **fields) -> None:
        """Buffer one row; unspecified fields are null, times default to now."""
        if "mono" not in fields:
            fields["mono"], fields["wall"] = time.monotonic_ns(), time.time_ns()
        for name, column in self._buffers[table].items():
            column.append(fields.get(name))

    def write_now(self, table: Table, columns: dict[str, list]) -> None:
        """Write a batch straight to the file, ahead of anything buffered for that table."""
        self._files[table].write(columns)

    def flush(self) -> None:
        for kind, buffer in self._buffers.items():
            if buffer["mono"]:
                self._files[kind].write(buffer)
                for column in buffer.values():
                    column.clear()
        self._last_flush = time.monotonic()

    def maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def close(self) -> None:
        self.flush()
        for stream in self._files.values():
            stream.close()


def now() -> tuple[int, int]:
    """(mono, wall) nanoseconds."""
    return time.monotonic_ns(), time.time_ns()
