"""Reading files that may be anything: an experiment a user points at, or a run directory's
records after a crash, a copy or a disk error.

Only regular files are opened (a FIFO with no writer would block, `/dev/zero` never ends), and
never without a size limit, so no input makes the harness hang or fill its memory. Problems are
`Unreadable` with one line that names the file.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path


class Unreadable(Exception):
    """A file that cannot be read as what it should be; the message names the file."""


_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFDIR: "a directory", stat.S_IFSOCK: "a socket"}


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def regular(path: Path) -> os.stat_result | None:
    """The file's status if it is a regular file, None if there is nothing at `path`."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Unreadable(f"{path}: cannot read: {exc.strerror}") from None
    if not stat.S_ISREG(status.st_mode):
        raise Unreadable(f"{path}: {_kind(status.st_mode)}, not a regular file")
    return status


def read_bytes(path: Path, limit: int) -> bytes:
    """All of a regular file of at most `limit` bytes (the check and the read see one file:
    opened without blocking, then checked by its descriptor)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise Unreadable(f"{path}: cannot read: {exc.strerror}") from None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise Unreadable(f"{path}: {_kind(status.st_mode)}, not a regular file")
        if status.st_size > limit:
            raise Unreadable(f"{path}: {status.st_size} bytes, more than the {limit} bytes such a file may have")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise Unreadable(f"{path}: cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew while we looked
        raise Unreadable(f"{path}: more than the {limit} bytes such a file may have")
    return data


def read_text(path: Path, limit: int) -> str:
    data = read_bytes(path, limit)
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise Unreadable(f"{path}: not UTF-8 text (byte {exc.start})") from None


def read_json(path: Path, limit: int = 16 * 2**20):
    """A JSON document; `json` never recurses past Python's limit into a crash, but it raises."""
    text = read_text(path, limit)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        problem = "empty" if not text.strip() else f"not valid JSON ({exc.msg} at line {exc.lineno})"
        raise Unreadable(f"{path}: {problem}") from None
    except RecursionError:
        raise Unreadable(f"{path}: JSON nested too deeply") from None


def json_lines(path: Path, max_bytes: int, max_lines: int, max_line: int = 2**20) -> Iterator[dict]:
    """Each complete JSON object line of a log, reading at most `max_bytes` and `max_lines`
    (a log that long is cut, not read whole). Lines that are not an object are skipped (the
    last one may be cut short by a crash), and so are lines longer than `max_line`."""
    if regular(path) is None:
        return
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise Unreadable(f"{path}: cannot read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise Unreadable(f"{path}: not a regular file")
        read = 0
        for _ in range(max_lines):
            line = handle.readline(max_line + 1)
            read += len(line)
            if not line or read > max_bytes:
                return
            if len(line) > max_line:
                while line and not line.endswith(b"\n") and read <= max_bytes:  # the rest of an overlong line
                    line = handle.readline(max_line)
                    read += len(line)
                continue
            try:
                value = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(value, dict):
                yield value


def write_text(path: Path, text: str, private: bool = False) -> None:
    """Replace `path` with a regular file holding `text`, atomically: a reader never sees half of
    it, and whatever was there (a FIFO, say, that would block an open for writing) is replaced.
    `private`: mode 0600 before a byte is written."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if private:
            temporary.unlink(missing_ok=True)
            temporary.touch(mode=0o600)
        temporary.write_text(text)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
