"""Which window a worker is in, from the history it has written so far."""

from __future__ import annotations

import pytest

from harness.history.schema import Table
from harness.history.writer import HistoryWriter
from harness.workload.windows import Window, in_window


def consumer(tmp_path, reads: list[int], commits: list[tuple[int, str]], generation: int = 1) -> HistoryWriter:
    """A consumer of t-0 that processed `reads` (offsets) and logged `commits` (offset, phase)."""
    history = HistoryWriter(tmp_path)
    history.row(Table.EVENTS, kind="assign", topic="t", partition=0, generation=generation)
    for offset in reads:
        history.row(Table.READS, topic="t", partition=0, offset=offset, producer=1, seq=offset, txn=0,
                    leader_epoch=0, generation=generation, in_txn=0)
    for offset, phase in commits:
        history.row(Table.EVENTS, kind="commit", phase=phase, topic="t", partition=0, offset=offset,
                    generation=generation)
    history.flush()
    return history


@pytest.mark.parametrize("reads, commits, window", [
    ([0, 1], [(10, "invoke"), (10, "ok")], Window.COMMITTED_UNPROCESSED),  # committed 10, processed to 2
    ([0, 1, 2], [(2, "invoke"), (2, "ok")], Window.PROCESSED_UNCOMMITTED),  # processed to 3, committed 2
    ([0, 1], [(2, "invoke")], None),  # the commit may have landed: neither window is sure
    ([0, 1], [(10, "invoke")], None),  # committed-unprocessed needs the broker's acknowledgement
])
def test_consumer_windows(tmp_path, reads, commits, window):
    consumer(tmp_path, reads, commits).close()
    found = {w for w in (Window.COMMITTED_UNPROCESSED, Window.PROCESSED_UNCOMMITTED) if in_window(tmp_path, w)}
    assert found == ({window} if window else set())
    assert in_window(tmp_path, Window.ANY)


def test_only_the_latest_generation_counts(tmp_path):
    history = consumer(tmp_path, [0, 1], [(10, "ok")], generation=1)
    history.row(Table.EVENTS, kind="assign", topic="t", partition=0, generation=2)
    history.close()
    assert not in_window(tmp_path, Window.COMMITTED_UNPROCESSED)


def test_a_transaction_is_open_from_its_begin_until_its_end_is_asked_for(tmp_path):
    history = HistoryWriter(tmp_path)

    def txn(number: int, action: str, phase: str) -> bool:
        history.row(Table.TXNS, producer=1, txn=number, action=action, phase=phase)
        history.flush()
        return in_window(tmp_path, Window.IN_TRANSACTION)

    assert not in_window(tmp_path, Window.IN_TRANSACTION)
    assert txn(1, "begin", "invoke") and txn(1, "begin", "ok") and txn(1, "send-offsets", "invoke")
    assert not txn(1, "commit", "invoke") and not txn(1, "commit", "ok")
    assert txn(2, "begin", "invoke") and not txn(2, "abort", "invoke")
    history.close()
