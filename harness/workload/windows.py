"""The moments a client fault can aim at, read from a worker's own history as it is written.

A crash only matters when the worker holds something: records it committed but has not
processed (at-most-once loses them), records it processed but has not committed (at-least-once
processes them again), an open transaction (it must be aborted or fenced). A fault that waits for
its window lands in it every time, not in the gaps between batches.

Only the worker's current incarnation and its latest generation count: earlier assignments say
nothing about what it holds now. Everything here is judged on what reached the history files,
so a frozen worker (SIGSTOP) cannot move out of the window between the look and the fault.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from harness.rundir import WorkerDir

OK = "ok"  # harness.history.schema.Phase.OK: the history is read only when a fault looks


class Window(StrEnum):
    ANY = "any"  # now
    IN_TRANSACTION = "in-transaction"  # a transaction begun and not ended
    COMMITTED_UNPROCESSED = "committed-unprocessed"  # offsets committed past what was processed
    PROCESSED_UNCOMMITTED = "processed-uncommitted"  # records processed past what was committed


def in_window(history_dir: Path, window: Window) -> bool:
    """Whether the worker whose history is in `history_dir` is in `window` right now."""
    if window == Window.ANY:
        return True
    if window == Window.IN_TRANSACTION:
        return _open_transaction(history_dir)
    # A commit asked for may have taken effect; only one the broker acknowledged surely has.
    sure = window == Window.COMMITTED_UNPROCESSED
    committed, processed = _positions(history_dir, acknowledged_only=sure)
    shared = committed.keys() & processed.keys()
    if sure:
        return any(committed[tp] > processed[tp] for tp in shared)
    return any(processed[tp] > committed[tp] for tp in shared)


def _rows(history_dir: Path, table: str) -> list[dict]:
    from harness.history.load import read_stream  # pyarrow and pandas: only once a fault looks

    path = WorkerDir(history_dir).stream(table)
    return read_stream(path).to_pylist() if path.exists() else []


def _open_transaction(history_dir: Path) -> bool:
    """The newest transaction was begun and neither its commit nor its abort asked for yet."""
    rows = _rows(history_dir, "txns")
    begun = [r["txn"] for r in rows if r["action"] == "begin"]
    return bool(begun) and not any(r["txn"] == begun[-1] and r["action"] in ("commit", "abort") for r in rows)


def _positions(history_dir: Path, acknowledged_only: bool) -> tuple[dict, dict]:
    """Per partition of the latest generation: the highest offset committed (asked for, or
    acknowledged by the broker) and the offset after the last record processed."""
    events, reads = _rows(history_dir, "events"), _rows(history_dir, "reads")
    generation = max((e["generation"] for e in events if e["kind"] == "assign"), default=None)
    committed: dict[tuple[str, int], int] = {}
    for e in events:
        if e["kind"] == "commit" and e["generation"] == generation and (
                e["phase"] == OK or not acknowledged_only):
            tp = (e["topic"], e["partition"])
            committed[tp] = max(committed.get(tp, -1), e["offset"])
    processed: dict[tuple[str, int], int] = {}
    for r in reads:
        if r["generation"] == generation:
            tp = (r["topic"], r["partition"])
            processed[tp] = max(processed.get(tp, -1), r["offset"] + 1)
    return committed, processed
