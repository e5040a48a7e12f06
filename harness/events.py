"""The run's event log (phases, faults) and the observer's (what it saw), one JSON object per line
with monotonic and wall-clock times (nanoseconds), appended and flushed as they happen so a
killed harness leaves every line it wrote."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from harness.files import Unreadable, json_lines
from harness.rundir import RunDir

log = logging.getLogger(__name__)


class EventLog:
    def __init__(self, path: Path | None = None):
        self.path = path
        self.events: list[dict] = []
        self._lock = threading.Lock()
        self._file = open(path, "a", buffering=1) if path else None  # line-buffered

    @classmethod
    def in_run(cls, run: RunDir | Path) -> "EventLog":
        return cls(RunDir.of(run).events)

    def record(self, source: str, kind: str, text: str, **fields) -> dict:
        """Append one event; `text` is the line a person reads ("node 2 isolated")."""
        event = {"mono": time.monotonic_ns(), "wall": time.time_ns(), "source": source, "kind": kind, "text": text,
                 **{k: v for k, v in fields.items() if v is not None}}
        with self._lock:
            self.events.append(event)
            if self._file:
                self._file.write(json.dumps(event, default=str) + "\n")
        return event

    def close(self) -> None:
        if self._file:
            self._file.close()
            self._file = None


MAX_EVENT_LINES = 100_000  # per file: a longer log is read up to here (a run logs a few hundred)
MAX_EVENT_BYTES = 64 * 2**20
MAX_RUN_SPAN_NS = 7 * 86_400 * 10**9


def read_events(run: RunDir | Path) -> list[dict]:
    """Every complete line of a run's event logs (the harness's and the observer's), in time order,
    up to MAX_EVENT_LINES of each: a log that long is damaged or hostile, and read no further. A
    log that cannot be read (not a regular file, say) counts as empty."""
    run, events = RunDir.of(run), []
    for path in (run.events, run.observer_events):
        try:
            events.extend(e for e in json_lines(path, MAX_EVENT_BYTES, MAX_EVENT_LINES)
                          if type(e.get("mono")) is int)
        except Unreadable as exc:
            log.warning("%s", exc)
    events.sort(key=lambda e: e["mono"])
    if events:  # a time far from the rest is a damaged line: times are measured from the first event
        middle = events[len(events) // 2]["mono"]
        events = [e for e in events if abs(e["mono"] - middle) <= MAX_RUN_SPAN_NS]
    return events
