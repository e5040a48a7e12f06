"""Reading a run's history without trusting it: what is intact, what is damaged, what is missing.

The history is the harness's own record. Files can be cut, emptied, flipped, swapped for a FIFO
or deleted after the fact, and a reader that judged only what is left would call a lossy run
clean. So every file is read defensively (regular files only, batches validated before use,
checksums compared, values range-checked before anything is allocated from them), and
completeness is proven, not assumed: `history/workers.jsonl` says which incarnations the run
started and which exited by themselves, and each of those must have every file with its end
mark. Anything else is `Damage`, named by file; the checker turns it into UNKNOWN.

Format 1 runs (written before checksums, end marks and the manifest) are still read: their
cut tails cannot be told from damage, so they are accepted as before.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.files import Unreadable, read_json, regular
from harness.history.manifest import Incarnation, file_seal, read_manifest
from harness.history.schema import (CRC_KEY, END_KEY, FORMAT, FORMAT_KEY, MAX_INCARNATION, MAX_PRODUCER,
                                    MAX_TOPIC_PARTITIONS, MAX_WORKERS, OWNER_KEY, RANGES, SCHEMAS, WRITE_KEY, Table)
from harness.history.seal import batch_crc, unseal
from harness.rundir import RunDir, WorkerDir
from harness.semantics import Semantics

DIR_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_-]{0,63})\.([1-9][0-9]{0,3})$")
MAX_RUN_SPAN_NS = 7 * 86_400 * 10**9  # every time in one run lies within a week of the others


@dataclass
class Damage:
    file: str  # relative to the run directory
    problem: str
    who: bool = False  # it puts in doubt who ran (process.json, the manifest), not only what they did

    def __str__(self) -> str:
        return f"{self.file}: {self.problem}"


# ---- one stream file ----------------------------------------------------------------------------


@dataclass
class Stream:
    table: pa.Table  # every intact row
    format: int | None = None  # 2, 1, or None when not even the header could be read
    whole: bool = False  # it ends with its end mark, and holds what the mark says
    cut_at: int | None = None  # where an unreadable tail starts: a write cut short (or damage)
    problems: list[str] = field(default_factory=list)  # damage, whatever became of the writer
    writes: list[int] = field(default_factory=list)  # format 2: the write number of each batch read
    owner: str = ""  # format 2: the worker incarnation that wrote it


def read_stream_file(path: Path, table: Table) -> Stream:
    """The intact content of one history stream, and what is wrong with the rest."""
    schema = SCHEMAS[table]
    empty = Stream(schema.empty_table())
    try:
        status = regular(path)
    except Unreadable as exc:
        empty.problems.append(str(exc).removeprefix(f"{path}: "))
        return empty
    if status is None or status.st_size == 0:
        empty.cut_at = 0 if status is not None else None
        return empty
    try:
        source = pa.memory_map(str(path))
    except OSError as exc:
        empty.problems.append(f"cannot read: {exc}")
        return empty
    with source:
        return _read_batches(source, status.st_size, table, path.parent.name)


def _read_batches(source, size: int, table: Table, owner: str) -> Stream:
    schema = SCHEMAS[table]
    try:
        reader = pa.ipc.open_stream(source)
    except (pa.ArrowException, OSError):
        stream = Stream(schema.empty_table(), cut_at=0)
        if not _cut_header(source, size, table, owner):
            stream.problems.append("not an Arrow stream (nor the start of one cut short)")
        return stream
    stream = Stream(schema.empty_table())
    if not reader.schema.equals(schema):
        stream.problems.append(f"not a {table} history: its columns are {_describe(reader.schema)}")
        return stream
    stream.format = 2 if (reader.schema.metadata or {}).get(FORMAT_KEY) else 1
    stream.owner = (reader.schema.metadata or {}).get(OWNER_KEY, b"").decode(errors="replace")
    batches, end, position = [], None, source.tell()
    while True:
        try:
            batch, metadata = reader.read_next_batch_with_custom_metadata()
        except StopIteration:
            if source.tell() < size:
                stream.problems.append(f"bytes {source.tell()}..{size} follow its end-of-stream marker")
            break
        except (pa.ArrowException, OSError, ValueError) as exc:
            problem = _tail_problem(source, position, size, exc)
            if problem:
                stream.problems.append(f"batch {len(batches) + 1} at byte {position}: {problem}")
            else:
                stream.cut_at = position
            break
        position = source.tell()
        metadata = dict(metadata or {})
        problem = _batch_problem(batch, metadata, stream.format, len(batches) + 1)
        if problem:
            stream.problems.append(problem)
            break
        if stream.format == 2:
            stream.writes.append(int(metadata[WRITE_KEY]))
        if end is not None:
            stream.problems.append("records after its end mark")
            break
        if metadata and END_KEY in metadata:
            end = metadata[END_KEY]
            continue
        batches.append(batch)
    if end is not None and not stream.problems:
        stream.whole = _end_matches(end, batches, stream)
    stream.table = _in_range(pa.Table.from_batches(batches, schema=schema), table, stream)
    return stream


_CUT = ("only", "Expected to be able to read", "Expected to read")  # what reading past the end says


def _tail_problem(source, position: int, size: int, exc: Exception) -> str | None:
    """Why an unreadable message at `position` is damage rather than the write SIGKILL cut short
    (None: a cut). A cut leaves the start of a message, running into the end of the file; damage
    leaves readable batches after it, or bytes that are no message."""
    if _readable_batch_after(source, position, size):
        return f"unreadable ({_first_line(exc)}), yet batches follow it"
    if not _message_start(source, position, size):
        return f"bytes {position}..{size} are not a record batch, nor one cut short"
    if not any(marker in str(exc) for marker in _CUT):
        return f"unreadable ({_first_line(exc)})"
    return None  # a killed worker's files are sealed as it left them (manifest): damage there shows


def _cut_header(source, size: int, table: Table, owner: str) -> bool:
    """Whether the file is the start of a stream header as a writer writes it (format 1 or 2),
    cut short: what SIGKILL leaves of a worker killed as it created its files."""
    source.seek(0)
    head = source.read(size) if size <= 4096 else b"-"
    return any(header.startswith(head) for header in _headers(table, owner))


@functools.lru_cache(maxsize=1024)
def _headers(table: Table, owner: str) -> list[bytes]:
    found = []
    for schema in (SCHEMAS[table], SCHEMAS[table].with_metadata({FORMAT_KEY: str(FORMAT).encode(),
                                                                  OWNER_KEY: owner.encode()})):
        sink = pa.BufferOutputStream()
        pa.ipc.new_stream(sink, schema).close()
        found.append(sink.getvalue().to_pybytes()[:-8])  # the schema message, without the end-of-stream marker
    return found


def _message_start(source, position: int, size: int) -> bool:
    """Whether what follows the last batch can be the start of a message cut short: IPC messages
    begin with 0xFFFFFFFF."""
    source.seek(position)
    return (b"\xff" * 4).startswith(source.read(min(4, size - position)))


def _batch_problem(batch: pa.RecordBatch, metadata: dict, format_: int, number: int) -> str | None:
    try:
        batch.validate(full=True)  # before anything touches its buffers: offsets, UTF-8, lengths
    except pa.ArrowException as exc:
        return f"batch {number} is corrupt ({_first_line(exc)})"
    if format_ < 2:
        return None
    crc = metadata.get(CRC_KEY)
    if crc is None:
        return f"batch {number} has no checksum"
    if crc != str(batch_crc(batch)).encode():
        return f"batch {number} does not match its checksum"
    if not metadata.get(WRITE_KEY, b"").isdigit() or len(metadata[WRITE_KEY]) > 18:
        return f"batch {number} has no write number"
    return None


def _end_matches(mark: bytes, batches: list, stream: Stream) -> bool:
    try:
        counts = json.loads(mark)
        expected = (int(counts["batches"]), int(counts["rows"]))
    except (ValueError, KeyError, TypeError):
        stream.problems.append("its end mark is unreadable")
        return False
    found = (len(batches), sum(b.num_rows for b in batches))
    if found != expected:
        stream.problems.append(f"holds {found[0]} batches of {found[1]} rows, its end mark says {expected[0]} of "
                               f"{expected[1]}")
        return False
    return True


def _readable_batch_after(source, position: int, size: int) -> bool:
    """Whether a record batch can be read anywhere after `position`: then the unreadable part
    is damage inside the file, not the end of a write cut short by SIGKILL. IPC messages start
    8-byte aligned with 0xFFFFFFFF and a metadata length that is a multiple of 8."""
    source.seek(0)
    data = source.read_buffer(size)
    start = position + 8 - position % 8 if position % 8 else position + 8
    if start + 8 > size:
        return False
    words = np.frombuffer(data, dtype="<u4", count=(size - start) // 8 * 2, offset=start).reshape(-1, 2)
    candidates = np.flatnonzero((words[:, 0] == 0xFFFFFFFF) & (words[:, 1] > 0) & (words[:, 1] % 8 == 0)
                                & (words[:, 1] < 2**20))
    for at in candidates[:10_000]:
        offset = start + 8 * int(at)
        try:
            message = pa.ipc.read_message(pa.BufferReader(data.slice(offset)))
            if message.type == "record batch" and message.body is not None:
                return True
        except (pa.ArrowException, OSError, ValueError):
            continue
    return False


def _in_range(data: pa.Table, table: Table, stream: Stream) -> pa.Table:
    """Drop rows whose values no writer produces (a flipped bit in a format 1 file, say): the
    checker sizes arrays and packs integers from them. One pass per column (min and max, null
    count, distinct strings) unless something is out of range."""
    if not data.num_rows:
        return data
    bad = None
    for name, (allowed, nullable) in RANGES[table].items():
        column = data.column(name)
        if not _column_in_range(column, allowed, nullable):
            wrong = _wrong_rows(column, allowed, nullable)
            first = pc.index(wrong, True).as_py()
            stream.problems.append(f"{name} {column[first].as_py()!r} in row {first + 1} is out of range")
            bad = wrong if bad is None else pc.or_(bad, wrong)
    return data if bad is None else data.filter(pc.invert(bad))


def _column_in_range(column, allowed, nullable: bool) -> bool:
    if column.null_count and not nullable:
        return False
    if allowed is None:
        return True
    if isinstance(allowed, frozenset):
        return set(pc.unique(column).drop_null().to_pylist()) <= allowed
    low, high = pc.min_max(column).values()
    return low.as_py() is None or (low.as_py() >= allowed[0] and high.as_py() <= allowed[1])


def _wrong_rows(column, allowed, nullable: bool):
    if allowed is None:
        return pc.is_null(column)
    if isinstance(allowed, frozenset):
        wrong = pc.invert(pc.is_in(column, value_set=pa.array(sorted(allowed), type=column.type)))
    else:
        wrong = pc.or_(pc.less(column, allowed[0]), pc.greater(column, allowed[1]))
    return pc.fill_null(wrong, not nullable)


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(map(str, first['loc']))}: {first['msg']}"


def _describe(schema: pa.Schema) -> str:
    try:
        return ", ".join(f"{f.name}: {f.type}" for f in schema)[:200]
    except ValueError:  # names that are not UTF-8
        return "unreadable"


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:160]


# ---- process.json -------------------------------------------------------------------------------


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Consumer(_Loose):
    topics: list[str] = Field(min_length=1)
    isolation: Literal["read_committed", "read_uncommitted"]
    group: str | None = None


class _FinalRead(_Loose):
    topics: list[str] = Field(min_length=1)
    isolation: Literal["read_committed", "read_uncommitted"]


class _Transformer(_Loose):
    input: str
    output: str
    group: str
    outputs_per_input: int = Field(1, ge=1, le=100)


class _Sink(_Loose):
    input: str
    group: str


class _Streams(_Loose):
    input: str
    output: str
    application: str
    processing_guarantee: Literal["exactly_once_v2", "at_least_once"]


_CONFIGS = {"consumer": _Consumer, "final-read": _FinalRead, "transformer": _Transformer, "sink": _Sink,
            "streams": _Streams, "producer": _Loose}


class _Process(_Loose):
    kind: Literal["producer", "consumer", "transformer", "sink", "streams", "final-read"]
    name: str | None = None
    incarnation: int | None = None
    producer: int | None = Field(None, ge=0, le=MAX_PRODUCER)
    pid: int | None = None
    semantics: Semantics | None = None
    config: dict = Field(default_factory=dict)


def read_process(path: Path, worker: str, incarnation: int) -> tuple[dict | None, bool | None, str | None]:
    """(process info with its config checked for what the checker reads, whether it was sealed
    with a checksum, the problem if it cannot be used)."""
    try:
        data = read_json(path, 2**20)
    except Unreadable as exc:
        return None, None, str(exc).removeprefix(f"{path}: ")
    if not isinstance(data, dict):
        return None, None, f"holds a JSON {type(data).__name__}, not an object"
    data, sealed = unseal(data)
    if sealed is False:
        return None, sealed, "does not match its checksum"
    try:
        info = _Process.model_validate(data)
    except ValidationError as exc:
        return None, sealed, _first_error(exc)
    try:
        config = _CONFIGS[info.kind].model_validate(info.config)
    except ValidationError as exc:
        return None, sealed, f"config.{_first_error(exc)}"
    if any(said is not None and said != dir_says for said, dir_says in ((info.name, worker),
                                                                         (info.incarnation, incarnation))):
        return None, sealed, f"describes {info.name}.{info.incarnation}, not {worker}.{incarnation}"
    if sealed and (info.name is None or info.incarnation is None):
        return None, sealed, "names no worker or incarnation"
    result = info.model_dump(mode="json")
    result["config"] = {**info.config, **config.model_dump(mode="json")}
    return result, sealed, None


# ---- the whole history --------------------------------------------------------------------------


@dataclass
class WorkerHistory:
    worker: str
    incarnation: int
    info: dict | None  # process.json, None when it is missing or unusable
    tables: dict[Table, pa.Table]


@dataclass
class Survey:
    workers: list[WorkerHistory] = field(default_factory=list)
    damage: list[Damage] = field(default_factory=list)
    format: int = 1
    has_history: bool = False  # there is a history directory at all
    run: RunDir = RunDir(Path("."))

    def name(self, path: Path) -> str:
        """A file of the run as damage names it: relative to the run directory."""
        return self.run.relative(path)


def survey(run: RunDir | Path) -> Survey:
    """Every worker history of the run, intact parts only, with what is damaged or missing."""
    run = RunDir.of(run)
    found = Survey(run=run)
    history, manifest_file = found.name(run.history), found.name(run.manifest)
    if not run.history.is_dir():
        if run.history.exists() or run.history.is_symlink():
            found.damage.append(Damage(history, "not a directory", who=True))
        return found
    found.has_history = True
    manifest = read_manifest(run.manifest)
    directories = _worker_directories(run, found)
    streams: dict[str, dict[Table, Stream]] = {}
    infos: dict[str, tuple[dict | None, bool | None, str | None]] = {}
    for name, directory in directories.items():
        path = directory.process
        exists = path.exists() or path.is_symlink()
        infos[name] = read_process(path, directory.name, directory.incarnation) if exists else (None, None, "missing")
        streams[name] = {table: read_stream_file(directory.stream(table), table) for table in Table}
    found.format = 2 if manifest is not None or any(
        s.format == 2 for each in streams.values() for s in each.values()) or any(
        sealed for _, sealed, _ in infos.values()) else 1
    if found.format == 2 and manifest is None:
        found.damage.append(Damage(manifest_file, "missing: which workers ran is unknown", who=True))
    for problem in (manifest.problems if manifest else []):
        found.damage.append(Damage(manifest_file, problem.split(": ", 1)[-1], who=True))
    for name, directory in directories.items():
        started = manifest.incarnations.get(name) if manifest else None
        if manifest is not None and started is None:
            found.damage.append(Damage(found.name(directory.path), f"not started by this run (not in {manifest_file})",
                                       who=True))
        found.workers.append(_judge_worker(found, directory, infos[name], streams[name], started))
    for name in sorted(set(manifest.incarnations if manifest else ()) - set(directories)):
        found.damage.append(Damage(f"{history}/{name}", "missing: the run started this worker "
                                                        "(the launcher makes its directory first)", who=True))
    _check_across(found)
    return found


def _worker_directories(run: RunDir, found: Survey) -> dict[str, WorkerDir]:
    directories = {}
    try:
        entries = sorted(os.scandir(run.history), key=lambda e: e.name)
    except OSError as exc:
        found.damage.append(Damage(found.name(run.history), f"cannot list: {exc.strerror}", who=True))
        return directories
    for entry in entries:
        if not entry.is_dir(follow_symlinks=True):
            continue
        match = DIR_NAME.match(entry.name)
        if not match or int(match.group(2)) > MAX_INCARNATION:
            found.damage.append(Damage(found.name(Path(entry.path)), "not a worker history (<worker>.<incarnation>)",
                                       who=True))
            continue
        directories[entry.name] = WorkerDir(Path(entry.path))
    if len({d.name for d in directories.values()}) > MAX_WORKERS:
        found.damage.append(Damage(found.name(run.history), f"more than {MAX_WORKERS} workers", who=True))
        directories = {}
    return directories


def _judge_worker(found: Survey, directory: WorkerDir, process, streams: dict[Table, Stream],
                  started: Incarnation | None) -> WorkerHistory:
    info, sealed, problem = process
    name, process_file = directory.path.name, found.name(directory.process)
    whole = started is not None and started.must_be_whole
    if problem == "missing":
        if whole or any(s.table.num_rows for s in streams.values()):  # a worker describes itself first
            found.damage.append(Damage(process_file, "missing", who=True))
    elif problem:
        found.damage.append(Damage(process_file, problem, who=True))
    elif found.format == 2 and sealed is not True:
        found.damage.append(Damage(process_file, "has no checksum", who=True))
        info = None
    if info is not None and started is not None and started.kind != info["kind"]:
        found.damage.append(Damage(process_file, f"says {info['kind']}, the run started a {started.kind}", who=True))
        info = None
    for table, stream in streams.items():
        file = found.name(directory.stream(table))
        found.damage.extend(Damage(file, problem) for problem in stream.problems)
        if found.format == 2 and stream.format == 1:
            found.damage.append(Damage(file, "has no format mark in a format 2 run"))
        if stream.format == 2 and stream.owner != name:
            found.damage.append(Damage(file, f"was written by {stream.owner or 'no one named'}, not {name}"))
            stream.table = stream.table.slice(0, 0)
        if whole and not stream.problems and not stream.whole:
            what = ("missing" if stream.format is None and stream.cut_at is None else
                    "empty, or cut inside its header" if stream.cut_at == 0 else
                    f"cut short at byte {stream.cut_at}" if stream.cut_at is not None else "without its end mark")
            found.damage.append(Damage(file, f"{what}, yet {name} exited by itself (code {started.exit}): "
                                             "its history must be whole"))
    if found.format == 2:
        _check_writes(found, directory, problem != "missing", streams)
    if started is not None and started.files is not None:
        _check_seals(found, directory, started.files)
    tables = {table: stream.table for table, stream in streams.items()}
    if info is not None:
        _check_producer(found, directory, info, tables)
    return WorkerHistory(directory.name, directory.incarnation, info, tables)


def _check_seals(found: Survey, directory: WorkerDir, seals: dict[str, list[int]]) -> None:
    """A killed worker's files are as the launcher sealed them once it was gone: a cut tail is
    what the kill left, not damage done later."""
    present = {p.name for p in directory.streams()}
    for name in sorted(present | set(seals)):
        file = found.name(directory.path / name)
        if name not in seals:
            found.damage.append(Damage(file, "was not there when its worker was killed"))
            continue
        try:
            seal = file_seal(directory.path / name) if regular(directory.path / name) is not None else None
        except (Unreadable, OSError):
            seal = None  # reported where it is read
        if seal is None and name in present:
            continue
        if seal != seals[name]:
            what = "missing" if seal is None else f"{seal[0]} bytes, CRC {seal[1]}"
            found.damage.append(Damage(file, f"changed since its worker was killed ({what}; sealed as "
                                             f"{seals[name][0]} bytes, CRC {seals[name][1]})"))


def _check_writes(found: Survey, directory: WorkerDir, described: bool, streams: dict[Table, Stream]) -> None:
    """A worker writes its batches one at a time, numbered across its files: SIGKILL can cut only
    the last. So the numbers read must run 1, 2, ... without a gap, and a worker that described
    itself (its files are created first) has all its files."""
    reported, where = {d.file for d in found.damage}, found.name(directory.path)
    for table, stream in streams.items():
        file = found.name(directory.stream(table))
        if described and stream.format is None and stream.cut_at is None and file not in reported:
            found.damage.append(Damage(file, "missing (the worker creates its files first)"))
    numbers = sorted(n for stream in streams.values() for n in stream.writes)
    if len(set(numbers)) != len(numbers):
        found.damage.append(Damage(where, "holds a batch twice"))
    elif numbers and numbers[-1] != len(numbers):
        gap = next(i for i, n in enumerate(numbers, start=1) if n != i)
        cut = [found.name(directory.stream(t)) for t, s in streams.items() if s.cut_at is not None]
        found.damage.append(Damage(", ".join(cut) or where, f"write {gap} of {numbers[-1]} is in none of its files: "
                                                            "batches were lost before later ones (not a SIGKILL)"))


def _check_producer(found: Survey, directory: WorkerDir, info: dict, tables: dict[Table, pa.Table]) -> None:
    """A producer's records name its own producer id, each invocation once."""
    for table in (Table.INVOKES, Table.COMPLETIONS, Table.TXNS):
        producers = tables[table].column("producer")
        if not len(producers):
            continue
        low, high = pc.min_max(producers).values()
        if info.get("producer") is None or not low.as_py() == high.as_py() == info["producer"]:
            found.damage.append(Damage(found.name(directory.stream(table)), "records a producer id other than its worker's "
                                                                  f"({info.get('producer')})"))
            tables[table] = tables[table].slice(0, 0)
    seqs = tables[Table.INVOKES].column("seq").to_numpy()
    if len(seqs) > 1 and not (seqs[1:] > seqs[:-1]).all() and len(np.unique(seqs)) != len(seqs):  # written in order
        found.damage.append(Damage(found.name(directory.stream(Table.INVOKES)), "records an invocation twice"))


def _check_across(found: Survey) -> None:
    """Facts that span workers: producer ids are unique, times lie within one run, partitions fit."""
    owners: dict[int, str] = {}
    for history in found.workers:
        producer = (history.info or {}).get("producer")
        if producer is not None and producer in owners:
            found.damage.append(Damage(found.name(found.run.worker(history.worker, history.incarnation).process),
                                       f"producer id {producer} is also {owners[producer]}'s", who=True))
        elif producer is not None:
            owners[producer] = f"{history.worker}.{history.incarnation}"
    _check_invoked(found)
    starts = [pc.min(t.column("mono")).as_py() for h in found.workers for t in h.tables.values() if t.num_rows]
    if starts:
        middle = int(np.median(starts))
        for history in found.workers:
            for table, data in list(history.tables.items()):
                if not data.num_rows:
                    continue
                low, high = pc.min_max(data.column("mono")).values()
                if abs(low.as_py() - middle) > MAX_RUN_SPAN_NS or abs(high.as_py() - middle) > MAX_RUN_SPAN_NS:
                    found.damage.append(Damage(found.name(found.run.worker(history.worker, history.incarnation)
                                                          .stream(table)),
                                               "records times more than a week away from the rest of the run"))
                    history.tables[table] = data.slice(0, 0)
    topics, width = set(), 0
    for history in found.workers:
        for table in (Table.INVOKES, Table.READS, Table.EVENTS):
            data = history.tables[table]
            if data.num_rows:
                topics.update(pc.unique(data.column("topic")).to_pylist())
        for table in (Table.COMPLETIONS, Table.READS, Table.EVENTS):
            data = history.tables[table]
            if data.num_rows:
                width = max(width, (pc.max(data.column("partition")).as_py() or 0) + 1)
    if len(topics) * width > MAX_TOPIC_PARTITIONS:
        found.damage.append(Damage(found.name(found.run.history), f"{len(topics)} topics of up to {width} partitions: more than the "
                                                f"checker can judge ({MAX_TOPIC_PARTITIONS})"))
        for history in found.workers:
            history.tables = {table: data.slice(0, 0) for table, data in history.tables.items()}


def _check_invoked(found: Survey) -> None:
    """An invocation is written before its send reaches the client, so every sequence number a
    completion or a read names was invoked: one beyond a producer's last recorded invocation
    means its invocation record lost batches (SIGKILL cuts only a batch whose sends never left)."""
    invoked: dict[int, tuple[int, WorkerDir]] = {}
    for history in found.workers:
        producer = (history.info or {}).get("producer")
        if producer is not None:
            seqs = history.tables[Table.INVOKES].column("seq")
            invoked[producer] = (pc.max(seqs).as_py() if len(seqs) else -1,
                                 found.run.worker(history.worker, history.incarnation))
    named: dict[int, int] = {}
    for history in found.workers:
        for table in (Table.COMPLETIONS, Table.READS):
            data = history.tables[table]
            if not data.num_rows:
                continue
            pairs = pa.table([data.column("producer"), data.column("seq")], names=["producer", "seq"])
            for row in pairs.group_by("producer").aggregate([("seq", "max")]).to_pylist():
                if row["producer"] >= 0:  # -1: a value no harness producer wrote
                    named[row["producer"]] = max(named.get(row["producer"], -1), row["seq_max"])
    for producer, top in sorted(named.items()):
        if producer in invoked and top > invoked[producer][0]:
            last, owner = invoked[producer]
            found.damage.append(Damage(found.name(owner.stream(Table.INVOKES)),
                                       f"records invocations up to seq {last}, yet seq {top} was sent: its "
                                       "invocations were cut"))
