"""The run's event log (phases, faults) and the observer's (what it saw), one JSON object per line
with monotonic and wall-clock times (nanoseconds), appended and flushed as they happen so a
killed harness leaves every line it wrote."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from harness.rundir import RunDir


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


def read_events(run: RunDir | Path) -> list[dict]:
    """Every complete line of a run's event logs (the harness's and the observer's), in time order."""
    run, events = RunDir.of(run), []
    for path in (run.events, run.observer_events):
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash
    return sorted((e for e in events if "mono" in e), key=lambda e: e["mono"])
