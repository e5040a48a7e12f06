"""Starting, finding and removing lazyfs daemons and their mounts.

Each daemon is `python -m harness.lazyfs BACKING MOUNTPOINT --name kafka-chaos-lazy-<cluster>`,
its own session, so it outlives a harness (a cluster left up keeps its disks); the name is the
mount's source in /proc/mounts and an argument of the daemon, so a sweep finds both after a
SIGKILLed harness.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from harness.errors import EnvironmentProblem
from harness.net.command import quietly
from harness.process import ProcessRef, named_daemons

SOURCE = "kafka-chaos-lazy-"
MODULE = "harness.lazyfs"


def available() -> bool:
    """FUSE can be mounted here: /dev/fuse, fusermount3, libfuse 3 through mfusepy, and root."""
    return (os.path.exists("/dev/fuse") and shutil.which("fusermount3") is not None and os.geteuid() == 0
            and importlib.util.find_spec("mfusepy") is not None)


def source(cluster: str) -> str:
    return f"{SOURCE}{cluster}"


def start(backing: Path, mountpoint: Path, cluster: str, log: Path) -> ProcessRef:
    """Mount `backing` at `mountpoint` through a new daemon; returns once the mount is there."""
    if str(mountpoint) in mounts(cluster):  # a dead daemon's mount, disconnected: nothing can use it
        sweep_mount(mountpoint)
    backing.mkdir(parents=True, exist_ok=True)
    mountpoint.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        popen = subprocess.Popen([sys.executable, "-m", MODULE, str(backing), str(mountpoint),
                                  "--name", source(cluster)],
                                 stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
    daemon = ProcessRef.of(popen)
    waiting = Retrying(stop=stop_after_delay(20), wait=wait_fixed(0.05),
                       retry=retry_if_result(lambda up: not up))
    if not waiting(lambda: str(mountpoint) in mounts(cluster) or not daemon.alive):
        raise EnvironmentProblem(f"lazyfs did not mount {mountpoint} (log: {log})")
    if not daemon.alive:
        raise EnvironmentProblem(f"lazyfs exited before mounting {mountpoint} (log: {log})")
    return daemon


def lose_power(daemon: ProcessRef, timeout: float = 60) -> bool:
    """Unmount and drop every unsynced write (SIGUSR1); True once the daemon has done so."""
    return daemon.send(signal.SIGUSR1) and daemon.wait_gone(timeout)


def stop(daemon: ProcessRef, timeout: float = 30) -> None:
    """Unmount keeping every write."""
    daemon.terminate(timeout)


def mounts(cluster: str | None = None) -> list[str]:
    """Mount points of the lazyfs mounts of `cluster` (or of every cluster)."""
    with open("/proc/self/mounts") as table:
        entries = [line.split()[:2] for line in table]
    wanted = source(cluster) if cluster else SOURCE
    return [point for name, point in entries if (name == wanted if cluster else name.startswith(wanted))]


def daemons(cluster: str | None = None) -> list[psutil.Process]:
    return named_daemons(MODULE, SOURCE, cluster)


def sweep(cluster: str | None = None) -> list[str]:
    """Stop every daemon of `cluster` (or all) and remove its mount, whatever state it is in."""
    removed = []
    for proc in daemons(cluster):
        try:
            proc.terminate()  # unmounts, keeping the writes
            proc.wait(10)
        except psutil.TimeoutExpired:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
        removed.append(f"lazyfs daemon {proc.pid}")
    for point in reversed(mounts(cluster)):  # a killed daemon leaves its mount behind, disconnected
        if quietly(["fusermount3", "-u", "-z", point]) or quietly(["umount", "-l", point]):
            removed.append(f"lazyfs mount {point}")
    return removed


def sweep_mount(point: Path) -> bool:
    """Remove one mount whose daemon is gone."""
    return quietly(["fusermount3", "-u", "-z", str(point)]) or quietly(["umount", "-l", str(point)])
