"""A node's own wall clock: libfaketime (Debian's libfaketime) preloaded into its JVM, reading its
offset from a control file that the harness rewrites at run time.

The monotonic clock is left alone (FAKETIME_DONT_FAKE_MONOTONIC: the JVM hangs otherwise, and
Kafka's timeouts measured with System.nanoTime keep real time), and so are the JVM's timed waits
(FAKETIME_FORCE_MONOTONIC_FIX=0: with the fix on, measured, every Object.wait(1) returned at once
and every Thread.sleep(1) took 15 ms, so KRaft elections never settled); the wall clock
(System.currentTimeMillis: record and log timestamps, retention, transaction timeouts) moves.
The file is read again every second (FAKETIME_CACHE_DURATION), so a change takes up to a second.
Only offsets are written: libfaketime 0.9.10 ignores an offset read at run time from a setting
that carries a rate (`+60 x1`), and a rate changed at run time never returns to real time
(measured), so drift is not offered.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.files import write_text

LIBRARIES = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
             "/usr/lib/faketime/libfaketime.so.1", "/usr/local/lib/faketime/libfaketime.so.1")


def library() -> str | None:
    return next((path for path in LIBRARIES if os.path.exists(path)), None)


def environment(clock_file: Path) -> list[str]:
    """NAME=value arguments for `env` that give a JVM its own clock."""
    return [f"LD_PRELOAD={library()}", f"FAKETIME_TIMESTAMP_FILE={clock_file}", "FAKETIME_DONT_FAKE_MONOTONIC=1",
            "FAKETIME_FORCE_MONOTONIC_FIX=0", "FAKETIME_CACHE_DURATION=1", "LC_NUMERIC=C"]


def setting(offset_s: float) -> str:
    """libfaketime's relative setting: `+3600.000` is an hour ahead."""
    return f"{offset_s:+.3f}"


def write(clock_file: Path, offset_s: float) -> str:
    text = setting(offset_s)
    write_text(clock_file, text + "\n")
    return text


def read(clock_file: Path) -> str | None:
    try:
        return clock_file.read_text().strip()
    except FileNotFoundError:
        return None
