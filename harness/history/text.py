"""A history as readable text: one line per operation, in time order across workers.

    12.345678 p1.1      invoke   send p1:42 -> orders key=k7 txn=3
    12.351002 p1.1      ok       send p1:42 orders-2@1187 (5.3 ms)
    12.360311 c1.1      read     orders-2@1187 p1:42 key=k7 gen=1
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from harness.history.load import History


def _who(producer, seq) -> str:
    return f"p{producer}:{seq}" if producer >= 0 else "foreign"


def _lines(history: History) -> Iterator[tuple[int, str, str]]:
    """(mono, worker.incarnation, text) for every record, unordered."""
    for s in history.sends.itertuples(index=False):
        who, proc = _who(s.producer, s.seq), f"{s.worker}.{s.incarnation}"
        source = f" from p{s.source_producer}:{s.source_seq}" if s.source_producer >= 0 else ""
        yield s.invoke_mono, proc, f"invoke   send {who} -> {s.topic} key={s.key} txn={s.txn}{source}"
        if s.outcome == "ok":
            yield s.complete_mono, proc, f"ok       send {who} {s.topic}-{s.partition}@{s.offset} ({s.latency_ms:.1f} ms)"
        elif s.outcome in ("fail", "info"):
            yield s.complete_mono, proc, f"{s.outcome:<8} send {who} {s.error}"
    for r in history.reads.itertuples(index=False):
        what = _who(r.producer, r.seq) if r.producer >= 0 else f"foreign {bytes(r.head)!r}"
        txn = f" in txn {r.in_txn}" if r.in_txn else ""
        yield r.mono, f"{r.worker}.{r.incarnation}", (
            f"read     {r.topic}-{r.partition}@{r.offset} {what} key={r.key} gen={r.generation}{txn}")
    for t in _raw_txns(history):
        yield t
    for e in history.events.itertuples(index=False):
        where = f" {e.topic}-{e.partition}" if pd.notna(e.topic) and pd.notna(e.partition) else (
            f" {e.topic}" if pd.notna(e.topic) else "")
        offset = f"@{e.offset}" if pd.notna(e.offset) else ""
        phase = f" {e.phase}" if pd.notna(e.phase) else ""
        detail = f" {e.detail}" if pd.notna(e.detail) else ""
        yield e.mono, f"{e.worker}.{e.incarnation}", f"{e.kind:<8}{phase}{where}{offset}{detail}"


def _raw_txns(history: History) -> Iterator[tuple[int, str, str]]:
    for t in history.transactions.itertuples(index=False):
        yield t.begin_mono, f"{t.worker}.{t.incarnation}", f"txn      p{t.producer} #{t.txn} begin"
        error = f" ({t.error})" if isinstance(t.error, str) else ""
        yield t.end_mono, f"{t.worker}.{t.incarnation}", f"txn      p{t.producer} #{t.txn} {t.outcome}{error}"


def timeline(history: History, worker: str | None = None) -> Iterator[str]:
    lines = sorted(_lines(history), key=lambda line: line[0])
    if worker:
        lines = [line for line in lines if line[1].rpartition(".")[0] == worker]
    start = lines[0][0] if lines else 0
    for mono, proc, text in lines:
        yield f"{(mono - start) / 1e9:10.6f} {proc:<24} {text}"
