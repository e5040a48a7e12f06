"""The daemon: `python -m harness.lazyfs BACKING MOUNTPOINT --name NAME`.

Mounts BACKING at MOUNTPOINT through `LazyFS` and serves until a signal:

    SIGTERM, SIGINT  unmount and exit, keeping every write (a clean shutdown flushes)
    SIGUSR1          power loss: unmount, then drop every write not fsynced, and exit

Unmounting first means the kernel's last write-backs (dirty pages of mmapped files) arrive
before the journal is undone, so nothing written after the last fsync survives. `NAME` is the
mount's source (/proc/mounts), which is how a sweep finds a daemon's mount.
"""

from __future__ import annotations

import argparse
import logging
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
    power_lost = threading.Event()
    # Every thread (libfuse's too) inherits the blocked signals; only the watcher takes them.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)

    def watch() -> None:
        received = signal.sigwait(STOPPING)
        if received == signal.SIGUSR1:
            power_lost.set()
        if not quietly(["fusermount3", "-u", args.mountpoint]):
            quietly(["fusermount3", "-u", "-z", args.mountpoint])

    threading.Thread(target=watch, daemon=True).start()
    print(f"serving {args.backing} at {args.mountpoint}", flush=True)
    fuse.FUSE(LazyFS(journal), args.mountpoint, foreground=True, fsname=args.name, subtype="lazyfs",
              hard_remove=True, kernel_cache=True)
    if power_lost.is_set():
        undone = journal.lose_power()
        print(f"power lost: dropped the unsynced writes of {len(undone)} files", flush=True)
        for line in undone:
            print("  " + line, flush=True)
    else:
        print("unmounted, every write kept", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
