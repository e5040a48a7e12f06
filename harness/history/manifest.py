"""`history/workers.jsonl`: which worker incarnations the run started, and how each ended.

Written by the launcher (harness.workload.launcher), one sealed JSON line per fact, appended
and flushed as it happens:

    {"worker": "p1", "incarnation": 1, "kind": "producer", "started": true, "checksum": ...}
    {"worker": "p1", "incarnation": 1, "exit": -9, "files": {"reads.arrows": [size, crc32], ...}, "checksum": ...}

`exit` is the process's return code: negative when a signal ended it (SIGKILL: -9). A worker
that exited by itself (`exit` >= 0) closed its history, so every one of its files must end with
its end mark. One killed may have lost the batch it was writing, so its files cannot end with
one: instead `files` seals them as the worker left them (size and CRC-32 of each history file,
taken once the process is gone), and any later change shows. One with no `exit` line was still
running (or the harness died first). The checker proves completeness from this file.
"""

from __future__ import annotations

import json
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from harness.files import Unreadable, read_text
from harness.history.seal import seal, unseal
from harness.rundir import WorkerDir

MAX_BYTES = 16 * 2**20


class ManifestWriter:
    def __init__(self, path: Path):
        self.path = Path(path)  # the run directory's manifest
        self._lock = threading.Lock()

    def _append(self, record: dict) -> None:
        line = json.dumps(seal(record)) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as out:
                out.write(line)

    def started(self, worker: str, incarnation: int, kind: str) -> None:
        self._append({"worker": worker, "incarnation": incarnation, "kind": kind, "started": True})

    def exited(self, worker: str, incarnation: int, code: int, directory: WorkerDir | None = None) -> None:
        """Record an exit; a worker ended by a signal gets its history files sealed as it left them."""
        record = {"worker": worker, "incarnation": incarnation, "exit": code}
        if code < 0 and directory is not None:
            record["files"] = {path.name: file_seal(path) for path in directory.streams()}
        self._append(record)


def file_seal(path: Path) -> list[int]:
    """[size, CRC-32] of a file, read in chunks."""
    crc, size = 0, 0
    with open(path, "rb") as source:
        while chunk := source.read(2**20):
            crc, size = zlib.crc32(chunk, crc), size + len(chunk)
    return [size, crc]


@dataclass
class Incarnation:
    worker: str
    incarnation: int
    kind: str
    exit: int | None = None  # None: no exit recorded
    files: dict[str, list[int]] | None = None  # killed: each history file's [size, crc32] as it was left

    @property
    def name(self) -> str:
        return f"{self.worker}.{self.incarnation}"

    @property
    def must_be_whole(self) -> bool:
        """It exited by itself, closing its history: every file must carry its end mark."""
        return self.exit is not None and self.exit >= 0


@dataclass
class Manifest:
    incarnations: dict[str, Incarnation] = field(default_factory=dict)  # "p1.1" -> ...
    problems: list[str] = field(default_factory=list)


def read_manifest(path: Path) -> Manifest | None:
    """The manifest, or None when the run has none (written before format 2, or lost)."""
    try:
        text = read_text(path, MAX_BYTES)
    except Unreadable as exc:
        if not path.exists() and not path.is_symlink():
            return None
        return Manifest(problems=[str(exc)])
    manifest = Manifest()
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        problem = _apply(manifest, line)
        if problem and not (number == len(lines) and not text.endswith("\n")):  # a last line the harness never finished
            manifest.problems.append(f"{path}: line {number}: {problem}")
    return manifest


def _apply(manifest: Manifest, line: str) -> str | None:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return "not a JSON line"
    if not isinstance(record, dict):
        return "not a JSON object"
    record, intact = unseal(record)
    if intact is not True:
        return "checksum does not match" if intact is False else "no checksum"
    worker, incarnation = record.get("worker"), record.get("incarnation")
    if not isinstance(worker, str) or type(incarnation) is not int:
        return "no worker or incarnation"
    name = f"{worker}.{incarnation}"
    if record.get("started") is True:
        if name in manifest.incarnations:
            return f"{name} started twice"
        manifest.incarnations[name] = Incarnation(worker, incarnation, str(record.get("kind")))
        return None
    code = record.get("exit")
    if type(code) is not int:
        return "neither a start nor an exit"
    if name not in manifest.incarnations:
        return f"{name} exited without being started"
    if manifest.incarnations[name].exit is not None:
        return f"{name} exited twice"
    files = record.get("files")
    if files is not None and not (isinstance(files, dict) and all(
            isinstance(v, list) and len(v) == 2 and all(type(x) is int for x in v) for v in files.values())):
        return f"{name}'s file seals are not [size, crc32] pairs"
    manifest.incarnations[name].exit = code
    manifest.incarnations[name].files = files
    return None
