"""History files: values, writing, reading back (also after a SIGKILL cut), and the tables."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from harness.history import values
from harness.history.load import load, read_stream, value_id
from harness.history.schema import Table
from harness.history.writer import HistoryWriter


def test_values_carry_their_invocation_and_are_padded():
    value = values.encode(producer=7, seq=123_456, txn=9, size=100)
    assert len(value) == 100
    assert value.startswith(b"kc:000007:000000123456:000000009:")
    assert values.decode(value) == (7, 123_456, 9)


@pytest.mark.parametrize("foreign", [None, b"", b"hello", b"kc:00000x:000000123456:000000009:",
                                     b"kc:000007-000000123456:000000009:....", b"xx:000007:000000123456:000000009:"])
def test_foreign_values_are_not_ours(foreign):
    assert values.decode(foreign) is None


def write_sample(directory, *, kill_before_flush: bool = False) -> None:
    """A producer incarnation: three sends invoked; two completed, one left pending."""
    history = HistoryWriter(directory)
    history.describe({"kind": "producer", "producer": 3})
    history.write_now(Table.INVOKES, {
        "producer": [3, 3, 3], "seq": [0, 1, 2], "txn": [1, 1, 1], "topic": ["t", "t", "u"],
        "key": ["a", None, "b"], "size": [40, 40, 40], "source_producer": [None] * 3, "source_seq": [None] * 3,
        "mono": [10, 10, 10], "wall": [20, 20, 20]})
    history.row(Table.COMPLETIONS, producer=3, seq=1, outcome="ok", partition=0, offset=5, mono=15, wall=25)
    history.row(Table.COMPLETIONS, producer=3, seq=0, outcome="info", partition=-1, offset=-1,
                error="_MSG_TIMED_OUT", mono=16, wall=26)
    history.row(Table.TXNS, producer=3, txn=1, action="begin", phase="invoke", mono=9, wall=19)
    history.row(Table.TXNS, producer=3, txn=1, action="begin", phase="ok", mono=9, wall=19)
    history.row(Table.TXNS, producer=3, txn=1, action="commit", phase="invoke", mono=17, wall=27)
    history.row(Table.EVENTS, kind="start", mono=1, wall=2)
    if kill_before_flush:
        return  # like SIGKILL: buffered rows never reach the file
    history.close()


def test_sends_join_invocations_with_outcomes(tmp_path):
    write_sample(tmp_path / "history" / "p1.1")
    sends = load(tmp_path).sends.set_index("seq")
    assert list(sends["outcome"].astype(str)) == ["info", "ok", "pending"]
    assert sends.loc[1, ["partition", "offset"]].tolist() == [0, 5]
    assert sends.loc[1, "latency_ms"] == pytest.approx(5e-6)
    assert sends.loc[2, "offset"] == -1 and pd.isna(sends.loc[2, "latency_ms"])
    assert sends.loc[0, "error"] == "_MSG_TIMED_OUT"
    assert (sends["worker"] == "p1").all() and (sends["incarnation"] == 1).all()
    assert sends.loc[0, "vid"] == value_id(3, 0) and sends.loc[2, "source_producer"] == -1


def test_transaction_with_commit_asked_but_unconfirmed_is_indeterminate(tmp_path):
    write_sample(tmp_path / "history" / "p1.1")
    txn = load(tmp_path).transactions.iloc[0]
    assert (txn["producer"], txn["txn"], txn["intent"], txn["outcome"]) == (3, 1, "commit", "indeterminate")


def test_killed_writer_keeps_invocations_and_loses_only_buffered_rows(tmp_path):
    write_sample(tmp_path / "history" / "p1.1", kill_before_flush=True)
    history = load(tmp_path)
    assert len(history.sends) == 3
    assert set(history.sends["outcome"].astype(str)) == {"pending"}
    assert history.events.empty and history.transactions.empty


def test_a_batch_cut_short_is_dropped_and_the_rest_read(tmp_path):
    history = HistoryWriter(tmp_path / "w.1")
    path = tmp_path / "w.1" / "events.arrows"
    sizes = []
    for mono in range(3):
        history.row(Table.EVENTS, kind="start", mono=mono, wall=mono)
        history.flush()
        sizes.append(path.stat().st_size)
    history.close()
    os.truncate(path, sizes[1] + (sizes[2] - sizes[1]) // 2)  # inside the third batch
    assert read_stream(path).column("mono").to_pylist() == [0, 1]


def test_empty_run_loads_empty_tables(tmp_path):
    history = load(tmp_path)
    assert history.sends.empty and history.reads.empty and history.transactions.empty
    assert "outcome" in history.sends.columns and "vid" in history.reads.columns
