"""Bind mounts inside a process's own mount namespace (for the read-only log directory fault).

`ip netns exec` gives each node a private mount namespace, so a mount made from the root
namespace would not reach it: the mount is made with nsenter inside the node's namespace, and
it vanishes with the process.
"""

from __future__ import annotations

from harness.net.command import quietly, run


def _inside(pid: int, *command: str) -> list[str]:
    return ["nsenter", "--target", str(pid), "--mount", "--", *command]


def bind_read_only(pid: int, directory: str) -> None:
    run(_inside(pid, "mount", "--bind", directory, directory))
    run(_inside(pid, "mount", "-o", "remount,bind,ro", directory))


def unmount(pid: int, directory: str) -> bool:
    return quietly(_inside(pid, "umount", directory))


def mounts_under(pid: int, directory: str) -> list[str]:
    """Mount points at or below `directory` as process `pid` sees them, innermost last."""
    try:
        with open(f"/proc/{pid}/mounts") as mounts:
            points = [line.split()[1] for line in mounts]
    except OSError:
        return []
    return [p for p in points if p == directory or p.startswith(directory.rstrip("/") + "/")]
