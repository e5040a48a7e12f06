"""The daemon: `python -m harness.lazyfs BACKING MOUNTPOINT --name NAME`.

Mounts BACKING at MOUNTPOINT through `LazyFS` and serves until a signal:

    SIGTERM, SIGINT  sync, unmount and exit, keeping every write (a clean shutdown flushes)
    SIGUSR1          power loss: refuse every write from now on, drop every write not fsynced,
                     unmount and exit

Every write reaches the backing directory as it happens (write-through); only dirty pages of
mmapped files can still be in the kernel, which a clean stop writes back first (syncfs) and a
power loss refuses. The daemon then exits rather than waiting for the kernel to end the mount:
a network namespace entered after the mount (`ip netns exec`, a node's JVM) holds a copy of it,
which keeps the mount alive after `fusermount3 -u`; the daemon's exit aborts the FUSE connection
and with it every copy, so a remount starts from an empty page cache. `NAME` is the mount's
source (/proc/mounts), which is how a sweep finds a daemon's mount.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

import mfusepy as fuse

from harness.lazyfs.fs import LazyFS
from harness.lazyfs.journal import Journal
from harness.net.command import quietly

STOPPING = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.lazyfs")
    parser.add_argument("backing")
    parser.add_argument("mountpoint")
    parser.add_argument("--name", required=True, help="the mount's source in /proc/mounts")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")

    journal = Journal(args.backing)
    # Every thread (libfuse's too) inherits the blocked signals; only the watcher takes them.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)

    stopping = threading.Event()

    def watch() -> None:
        received = signal.sigwait(STOPPING)
        stopping.set()
        if received == signal.SIGUSR1:
            undone = journal.lose_power()
            print(f"power lost: dropped the unsynced writes of {len(undone)} files", flush=True)
            for line in undone:
                print("  " + line, flush=True)
        else:
            quietly(["sync", "-f", args.mountpoint])  # dirty mmapped pages, while we still serve them
            print("unmounted, every write kept", flush=True)
        if not quietly(["fusermount3", "-u", args.mountpoint]):
            quietly(["fusermount3", "-u", "-z", args.mountpoint])
        os._exit(0)  # closing /dev/fuse aborts the connection, in every namespace that holds a copy

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    print(f"serving {args.backing} at {args.mountpoint}", flush=True)
    fuse.FUSE(LazyFS(journal), args.mountpoint, foreground=True, fsname=args.name, subtype="lazyfs",
              hard_remove=True, kernel_cache=True)
    if stopping.is_set():
        watcher.join()  # it ends the process
    print("unmounted from outside, every write kept", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
