"""Mounts for storage faults.

Read-only log directory: a bind mount inside the node's own mount namespace. `ip netns exec`
gives each node a private mount namespace, so a mount made from the root namespace after the
node started would not reach it: the mount is made with nsenter inside the node's namespace,
and it vanishes with the process. The heal unmounts only the read-only mounts on top of the
directory: under them can be a mount the node started on (its lazyfs data directory).

Full disk: each node's data directory is on its own small tmpfs, mounted in the root namespace
before the node starts (so the node inherits it) and named after the cluster, so `cluster down`
finds and removes the disks of a harness that died.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from harness.net.command import quietly, run
from harness.net.shell import LOCAL, Shell


def _inside(pid: int | str, *command: str) -> list[str]:
    return ["nsenter", "--target", str(pid), "--mount", "--", *command]


def bind_read_only(pid: int | str, directory: str, shell: Shell = LOCAL) -> None:
    """Make `directory` read-only for process `pid`: a read-only bind mount of itself on top.

    The bind is made and remounted read-only at a staging point nobody writes through, then
    moved onto `directory` in one step. Remounting a bind in place fails with EBUSY whenever the
    node opens a file for writing through it between the bind and the remount (a checkpoint, a
    new segment), and that bind can then not be unmounted either. The staging point is a private
    mount of its own, because a mount cannot be moved out from under a shared one (a systemd
    host's /)."""
    made = shell.run(_inside(pid, "mktemp", "-d", "/tmp/kafka-chaos-ro.XXXXXX")).stdout.strip()
    stage = made or "/tmp/kafka-chaos-ro.XXXXXX"  # a dry run's recorder answers nothing
    staged = f"{stage}/ro"
    try:
        shell.run(_inside(pid, "mount", "--bind", "--make-private", stage, stage))
        shell.run(_inside(pid, "mkdir", staged))
        shell.run(_inside(pid, "mount", "--bind", directory, staged))
        shell.run(_inside(pid, "mount", "-o", "remount,bind,ro", staged))
        shell.run(_inside(pid, "mount", "--move", staged, directory))
    finally:
        shell.quietly(_inside(pid, "umount", staged))  # only when the move did not happen
        shell.quietly(_inside(pid, "umount", stage))
        shell.quietly(_inside(pid, "rmdir", staged, stage))


def unbind_read_only(pid: int | str, directory: str, shell: Shell = LOCAL) -> bool:
    """Undo bind_read_only: unmount the read-only mounts stacked on top at `directory`, and no
    more. The directory can itself be a mount the node started on (its lazyfs, its disk); taking
    that away would leave the node an empty directory. Lazily: a plain umount fails with EBUSY
    while the node is looking a path up through the mount (about once in 150 heals of a busy
    directory), and what still reads through a detached read-only mount does no harm."""
    mounts = shell.run(["cat", f"/proc/{pid}/mounts"], check=False).stdout
    stacked = read_only_on_top(mounts, directory)
    return any([shell.quietly(_inside(pid, "umount", "-l", directory)) for _ in range(stacked)])


def read_only_on_top(mounts: str, directory: str) -> int:
    """How many read-only mounts are on top of the stack at `directory` (a /proc/PID/mounts
    text). A log directory Kafka runs on is writable: only the read-only fault puts these there."""
    stack = [fields[3].split(",") for fields in map(str.split, mounts.splitlines())
             if len(fields) > 3 and fields[1] == directory]
    count = 0
    for options in reversed(stack):
        if "ro" not in options:
            break
        count += 1
    return count


def mounts_under(pid: int, directory: str) -> list[str]:
    """Mount points at or below `directory` as process `pid` sees them, innermost last."""
    try:
        with open(f"/proc/{pid}/mounts") as mounts:
            points = [line.split()[1] for line in mounts]
    except OSError:
        return []
    return [p for p in points if p == directory or p.startswith(directory.rstrip("/") + "/")]


def _disk_source(cluster: str) -> str:
    return f"kafka-chaos-{cluster}"


def mount_disk(directory: Path, size_mb: int, cluster: str) -> None:
    """A tmpfs of `size_mb` at `directory`: a disk of its own that a fault can fill."""
    directory.mkdir(parents=True, exist_ok=True)
    run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", _disk_source(cluster), str(directory)])


def disks(cluster: str | None = None) -> list[str]:
    """Mount points of the node disks of `cluster` (or of every kafka-chaos cluster), in mount order."""
    with open("/proc/self/mounts") as mounts:
        entries = [line.split()[:3] for line in mounts]
    ours = _disk_source(cluster) if cluster else _disk_source("")
    return [point for source, point, kind in entries
            if kind == "tmpfs" and (source == ours if cluster else source.startswith(ours))]


def is_disk(directory: Path) -> bool:
    return str(directory) in disks()


def remove_disks(cluster: str | None = None) -> list[str]:
    """Unmount the node disks of `cluster` (or all); returns what was removed."""
    return [f"disk {point}" for point in reversed(disks(cluster)) if quietly(["umount", point])]


FILLER = ".kafka-chaos-filler"  # at the disk's root, beside (not in) the node's data directory


def fill_disk(directory: Path) -> int:
    """Take every free byte of the disk at `directory` with one file; returns how many it took.

    tmpfs undoes a whole fallocate that runs out of room (the node may write in between), so
    the file grows in chunks, halving the chunk whenever it does not fit."""
    free = os.statvfs(directory)
    chunk, taken = free.f_bavail * free.f_frsize, 0
    fd = os.open(directory / FILLER, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while chunk >= free.f_frsize:
            try:
                os.posix_fallocate(fd, taken, chunk)
                taken += chunk
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                chunk //= 2
    finally:
        os.close(fd)
    return taken


def empty_disk(directory: Path) -> bool:
    """Remove the filler; True if there was one."""
    try:
        (directory / FILLER).unlink()
        return True
    except FileNotFoundError:
        return False
