"""The sink's tables in the run's database, and their dump into the run directory.

    kc_rows      one row per record a sink wrote: sink, incarnation, grp, txn (the sink's batch),
                 topic, partition, offset, producer, seq (from the value's header; -1 for a value
                 no harness producer wrote), key, written_at
    kc_offsets   grp, topic, partition -> next_offset: an exactly-once sink's input offsets,
                 written in the transaction that writes the rows

At the end of a run the harness dumps both into `database/rows.arrow` and
`database/offsets.arrow` (Arrow IPC files), so the checker judges what the database holds
without a database: data flows one way, through the run directory. kc_rows has no unique key on
purpose: a sink that writes a record twice leaves two rows, which is what the checker looks for.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa

from harness.files import Unreadable, regular
from harness.rundir import RunDir

log = logging.getLogger(__name__)

CREATE = """
CREATE TABLE IF NOT EXISTS kc_rows (
    id bigserial PRIMARY KEY, sink text NOT NULL, incarnation int NOT NULL, grp text NOT NULL,
    txn bigint NOT NULL, topic text NOT NULL, "partition" int NOT NULL, "offset" bigint NOT NULL,
    producer int NOT NULL, seq bigint NOT NULL, key text,
    written_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE IF NOT EXISTS kc_offsets (
    grp text NOT NULL, topic text NOT NULL, "partition" int NOT NULL, next_offset bigint NOT NULL,
    PRIMARY KEY (grp, topic, "partition"));
"""
INSERT_ROW = ('INSERT INTO kc_rows (sink, incarnation, grp, txn, topic, "partition", "offset", producer, seq, key) '
              "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")

ROWS = pa.schema([("sink", pa.string()), ("incarnation", pa.int32()), ("grp", pa.string()), ("txn", pa.int64()),
                  ("topic", pa.string()), ("partition", pa.int32()), ("offset", pa.int64()),
                  ("producer", pa.int32()), ("seq", pa.int64()), ("key", pa.string()),
                  ("written_wall", pa.int64())])
OFFSETS = pa.schema([("grp", pa.string()), ("topic", pa.string()), ("partition", pa.int32()),
                     ("next_offset", pa.int64())])
MAX_DUMP_BYTES = 4 * 2**30


def create(dsn: str) -> None:
    """The sink's tables, made once by the harness before any sink starts (two sinks creating
    them at once could race)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(CREATE)


def dump(dsn: str, run: RunDir | Path) -> int:
    """Both tables into the run directory; how many rows kc_rows holds."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        rows = conn.execute('SELECT sink, incarnation, grp, txn, topic, "partition", "offset", producer, seq, key, '
                            "(extract(epoch FROM written_at) * 1e9)::bigint FROM kc_rows ORDER BY id").fetchall()
        offsets = conn.execute('SELECT grp, topic, "partition", next_offset FROM kc_offsets '
                               'ORDER BY grp, topic, "partition"').fetchall()
    write(run, rows, offsets)
    return len(rows)


def write(run: RunDir | Path, rows: list[tuple], offsets: list[tuple]) -> None:
    """The dump's files from rows in `ROWS` and `OFFSETS` column order."""
    run = RunDir.of(run)
    run.database.mkdir(exist_ok=True)
    _write(run.database_rows, ROWS, rows)
    _write(run.database_offsets, OFFSETS, offsets)


def _write(path: Path, schema: pa.Schema, rows: list[tuple]) -> None:
    columns = list(zip(*rows)) if rows else [[] for _ in schema]
    table = pa.table([pa.array(list(c), f.type) for c, f in zip(columns, schema)], schema=schema)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        writer.write_table(table)


class DumpError(Exception):
    """The dump is missing or is not what `dump` writes."""


def read(run: RunDir | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows, offsets) as `dump` wrote them; DumpError naming the file when either is missing,
    unreadable or of another schema (the run directory is untrusted input)."""
    run = RunDir.of(run)
    return _read(run, run.database_rows, ROWS), _read(run, run.database_offsets, OFFSETS)


def _read(run: RunDir, path: Path, schema: pa.Schema) -> pd.DataFrame:
    name = run.relative(path)
    try:
        if regular(path) is None:
            raise DumpError(f"{name}: missing")
    except Unreadable as exc:
        raise DumpError(f"{name}: {exc}") from exc
    if path.stat().st_size > MAX_DUMP_BYTES:
        raise DumpError(f"{name}: larger than {MAX_DUMP_BYTES} bytes")
    try:
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_file(source).read_all()
            table.validate(full=True)  # before pandas touches its buffers
    except (pa.ArrowException, OSError) as exc:
        raise DumpError(f"{name}: unreadable ({exc})") from exc
    if not table.schema.equals(schema, check_metadata=False):
        raise DumpError(f"{name}: not the schema the dump writes")
    frame = table.to_pandas()
    for column in ("partition", "offset", "producer", "seq", "txn", "next_offset", "incarnation"):
        if column in frame and len(frame) and frame[column].min() < -1:
            raise DumpError(f"{name}: {column} out of range")
    return frame
