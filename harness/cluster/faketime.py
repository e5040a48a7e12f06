"""A node's own wall clock: libfaketime (Debian's libfaketime) preloaded into its JVM, reading its
offset from a control file that the harness rewrites at run time.

The monotonic clock is left alone (FAKETIME_DONT_FAKE_MONOTONIC: the JVM hangs otherwise, and
Kafka's timeouts measured with System.nanoTime keep real time); the wall clock
(System.currentTimeMillis: record and log timestamps, retention, transaction timeouts) moves.
The file is read again every second (FAKETIME_CACHE_DURATION), so a change takes up to a second.
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
            "FAKETIME_CACHE_DURATION=1", "FAKETIME_XRESET=1", "LC_NUMERIC=C"]


def setting(offset_s: float, rate: float = 1.0) -> str:
    """libfaketime's relative setting: `+3600 x1` is an hour ahead, running at real speed."""
    return f"{offset_s:+.3f} x{rate:g}"


def write(clock_file: Path, offset_s: float, rate: float = 1.0) -> str:
    text = setting(offset_s, rate)
    write_text(clock_file, text + "\n")
    return text


def read(clock_file: Path) -> str | None:
    try:
        return clock_file.read_text().strip()
    except FileNotFoundError:
        return None
