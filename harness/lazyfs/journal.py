"""What a power loss would take: every byte written since its file's last fsync.

Writes go straight through to the backing file (reads need no merging, and a clean stop keeps
everything, as an OS flushes its page cache on shutdown); the journal keeps, per file, its size
at its last fsync and the original contents of every page overwritten since. `lose_power()`
puts those pages back and cuts each file to its synced size. Metadata (create, rename, unlink,
mkdir) is durable at once, as in LazyFS: a file created and never synced comes back empty.

Pure file I/O on the backing directory: the FUSE layer writes and truncates through `write` and
`truncate` (the undo record and the change under one lock, so none slips in after a power loss)
and calls `created`, `synced`, `renamed` and `removed`; it is tested without FUSE. After
`lose_power()` every write and truncation fails with EIO: the power is off.
"""

from __future__ import annotations

import errno
import os
import threading
from dataclasses import dataclass, field

PAGE = 4096


@dataclass
class Dirty:
    """One file written since its last fsync."""

    synced_size: int
    pages: dict[int, bytes] = field(default_factory=dict)  # page index -> contents at the last sync


class Journal:
    def __init__(self, root: str):
        self.root = root
        self.files: dict[str, Dirty] = {}  # path relative to root ("/a/b") -> what to undo
        self.lock = threading.Lock()
        self.powered = True

    def backing(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def _dirty(self, path: str) -> Dirty:
        found = self.files.get(path)
        if found is None:
            try:
                size = os.stat(self.backing(path)).st_size
            except FileNotFoundError:
                size = 0
            found = self.files[path] = Dirty(size)
        return found

    def _keep(self, dirty: Dirty, fd: int, start: int, end: int) -> None:
        """Save the synced contents of the pages in [start, end) not saved yet."""
        end = min(end, dirty.synced_size)
        if end <= start:
            return
        for page in range(start // PAGE, (end + PAGE - 1) // PAGE):
            if page not in dirty.pages:
                size = min(PAGE, dirty.synced_size - page * PAGE)
                dirty.pages[page] = os.pread(fd, size, page * PAGE)

    def _power(self) -> None:
        if not self.powered:
            raise OSError(errno.EIO, "the power is off")

    def write(self, path: str | None, fd: int, data: bytes, offset: int) -> int:
        """Write `data` at `offset` through `fd` (open for reading too), keeping what it overwrites."""
        with self.lock:
            self._power()
            if path is not None:  # None: an unlinked file still open, nothing of it survives anyway
                self._keep(self._dirty(path), fd, offset, offset + len(data))
            return os.pwrite(fd, data, offset)

    def truncate(self, path: str, length: int) -> None:
        with self.lock:
            self._power()
            dirty = self._dirty(path)
            if length < dirty.synced_size:
                fd = os.open(self.backing(path), os.O_RDONLY)
                try:
                    self._keep(dirty, fd, length, dirty.synced_size)
                finally:
                    os.close(fd)
            os.truncate(self.backing(path), length)

    def created(self, path: str) -> None:
        """A new file: nothing of it is synced yet."""
        with self.lock:
            self.files[path] = Dirty(0)

    def synced(self, path: str | None) -> None:
        if path is not None:
            with self.lock:
                self.files.pop(path, None)

    def renamed(self, old: str, new: str) -> None:
        """A file or directory moved: its records (and those of everything under it) follow."""
        with self.lock:
            self.files.pop(new, None)  # the file it replaced is gone
            for path in [p for p in self.files if p == old or p.startswith(old.rstrip("/") + "/")]:
                self.files[new + path[len(old):]] = self.files.pop(path)

    def removed(self, path: str) -> None:
        with self.lock:
            self.files.pop(path, None)

    def unsynced_bytes(self) -> int:
        """How much a power loss would take now (bytes beyond the synced sizes, plus overwritten pages)."""
        with self.lock:
            total = 0
            for path, dirty in self.files.items():
                try:
                    total += max(0, os.stat(self.backing(path)).st_size - dirty.synced_size)
                except FileNotFoundError:
                    continue
                total += sum(len(p) for p in dirty.pages.values())
            return total

    def lose_power(self) -> list[str]:
        """Undo every unsynced write and refuse writes from now on; what was undone, one line per file."""
        done = []
        with self.lock:
            self.powered = False
            for path, dirty in sorted(self.files.items()):
                try:
                    fd = os.open(self.backing(path), os.O_WRONLY)
                except FileNotFoundError:
                    continue
                try:
                    size = os.fstat(fd).st_size
                    for page, contents in dirty.pages.items():
                        os.pwrite(fd, contents, page * PAGE)
                    os.ftruncate(fd, dirty.synced_size)
                finally:
                    os.close(fd)
                done.append(f"{path}: {size} -> {dirty.synced_size} bytes, {len(dirty.pages)} pages restored")
            self.files.clear()
        return done
