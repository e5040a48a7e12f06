"""History files: values, writing, reading back (also after a SIGKILL cut), and the tables."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from harness.history import values
from harness.history.load import load_history, read_stream, value_id
from harness.history.manifest import ManifestWriter, read_manifest
from harness.rundir import RunDir
from harness.history.schema import SCHEMAS, Table
from harness.history.verify import read_stream_file
from harness.history.writer import HistoryWriter
from tests.histories import Run


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
    sends = load_history(tmp_path).sends.set_index("seq")
    assert list(sends["outcome"].astype(str)) == ["info", "ok", "pending"]
    assert sends.loc[1, ["partition", "offset"]].tolist() == [0, 5]
    assert sends.loc[1, "latency_ms"] == pytest.approx(5e-6)
    assert sends.loc[2, "offset"] == -1 and pd.isna(sends.loc[2, "latency_ms"])
    assert sends.loc[0, "error"] == "_MSG_TIMED_OUT"
    assert (sends["worker"] == "p1").all() and (sends["incarnation"] == 1).all()
    assert sends.loc[0, "vid"] == value_id(3, 0) and sends.loc[2, "source_producer"] == -1


def test_transaction_with_commit_asked_but_unconfirmed_is_indeterminate(tmp_path):
    write_sample(tmp_path / "history" / "p1.1")
    txn = load_history(tmp_path).transactions.iloc[0]
    assert (txn["producer"], txn["txn"], txn["intent"], txn["outcome"]) == (3, 1, "commit", "indeterminate")


def test_killed_writer_keeps_invocations_and_loses_only_buffered_rows(tmp_path):
    write_sample(tmp_path / "history" / "p1.1", kill_before_flush=True)
    history = load_history(tmp_path)
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
    history = load_history(tmp_path)
    assert history.sends.empty and history.reads.empty and history.transactions.empty
    assert "outcome" in history.sends.columns and "vid" in history.reads.columns


# ---- format 2: proving a history whole (harness.history.verify) ---------------------------------


def two_workers(tmp_path, killed: bool = False) -> Path:
    """A producer and a consumer written as workers write them, with the launcher's manifest."""
    run = Run()
    for seq in range(20):
        run.send(1, seq, partition=seq % 2)
    consumer = run.reader("c1", "consumer", "read_uncommitted", group="g")
    run.consume(consumer, [("t", p, o) for o in range(10) for p in (0, 1)])
    if killed:
        run.killed = {"c1"}
    return run.write(tmp_path)


def damage_of(run_dir: Path) -> list[str]:
    return [str(d) for d in load_history(run_dir).damage]


def test_a_clean_run_and_a_killed_workers_cut_tail_are_not_damage(tmp_path):
    assert damage_of(two_workers(tmp_path / "clean")) == []
    run_dir = two_workers(tmp_path / "killed", killed=True)
    reads = run_dir / "history" / "c1.1" / "reads.arrows"
    assert damage_of(run_dir) == []
    assert not read_stream_file(reads, Table.READS).whole  # killed: no end mark, and none needed
    assert len(load_history(run_dir).reads) == 20


def test_a_cleanly_stopped_workers_cut_file_is_damage_naming_the_file(tmp_path):
    run_dir = two_workers(tmp_path)
    path = run_dir / "history" / "p1.1" / "completions.arrows"
    os.truncate(path, path.stat().st_size - 100)
    assert any(d.startswith("history/p1.1/completions.arrows: cut short at byte") and "exited by itself (code 0)" in d
               for d in damage_of(run_dir))


def test_a_cut_after_the_kill_breaks_the_seal(tmp_path):
    run_dir = two_workers(tmp_path, killed=True)
    path = run_dir / "history" / "c1.1" / "reads.arrows"
    os.truncate(path, path.stat().st_size // 2)
    assert any(d.startswith("history/c1.1/reads.arrows: changed since its worker was killed") for d in damage_of(run_dir))


def test_batches_lost_before_later_ones_leave_a_gap_in_the_write_numbers(tmp_path):
    run_dir = two_workers(tmp_path, killed=True)
    manifest = run_dir / "history" / "workers.jsonl"
    manifest.write_text("".join(line for line in manifest.read_text().splitlines(keepends=True)
                                if '"exit"' not in line or '"c1"' not in line))  # as if the harness died too
    path = run_dir / "history" / "c1.1" / "reads.arrows"
    os.truncate(path, path.stat().st_size // 2)  # reads cut; the events written after them remain
    assert any("is in none of its files: batches were lost before later ones" in d for d in damage_of(run_dir))


def test_a_read_of_a_send_never_invoked_means_the_invocations_were_cut(tmp_path):
    run_dir = two_workers(tmp_path)
    history = HistoryWriter(run_dir / "history" / "c2.1")  # one more reader saw seq 40 of producer 1
    history.describe({"kind": "consumer", "name": "c2", "incarnation": 1, "semantics": "at-least-once",
                      "config": {"topics": ["t"], "isolation": "read_uncommitted", "group": "g2"}})
    history.row(Table.READS, topic="t", partition=0, offset=99, producer=1, seq=40, txn=0, leader_epoch=0,
                generation=1, in_txn=0, mono=2 * 10**9, wall=2 * 10**9)
    history.close()
    ManifestWriter(RunDir(run_dir).manifest).started("c2", 1, "consumer")
    assert any(d.startswith("history/p1.1/invokes.arrows: records invocations up to seq 19, yet seq 40 was sent")
               for d in damage_of(run_dir))


@pytest.mark.parametrize("column, value", [("partition", 2**31 - 1), ("offset", -5), ("generation", 2**25),
                                           ("producer", 5_000_000)])
def test_values_out_of_range_are_dropped_before_anything_is_sized_from_them(tmp_path, column, value):
    history = HistoryWriter(tmp_path / "history" / "c1.1")
    history.describe({"kind": "consumer", "name": "c1", "incarnation": 1, "semantics": "at-least-once",
                      "config": {"topics": ["t"], "isolation": "read_uncommitted"}})
    row = dict(topic="t", partition=0, offset=1, producer=1, seq=0, txn=0, leader_epoch=0, generation=1, in_txn=0,
               mono=10**9, wall=10**9)
    history.row(Table.READS, **row)
    history.row(Table.READS, **(row | {column: value}))
    history.close()
    found = load_history(tmp_path)
    assert len(found.reads) == 1
    assert any(f"{column} {value} in row 2 is out of range" in str(d) for d in found.damage)


@pytest.mark.parametrize("schema", [
    pa.schema([("kind", pa.string()), ("mono", pa.int64()), ("wall", pa.int32())]),  # a mistyped column
    pa.schema([("kind", pa.dictionary(pa.int32(), pa.string()))]),
])
def test_a_stream_of_another_shape_is_damage_not_a_crash(tmp_path, schema):
    directory = tmp_path / "history" / "w.1"
    directory.mkdir(parents=True)
    with pa.OSFile(str(directory / "events.arrows"), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        writer.write_batch(pa.record_batch([pa.array(["start"] if not pa.types.is_dictionary(f.type) else ["start"],
                                                     type=f.type) if f.name == "kind" else pa.array([1], type=f.type)
                                            for f in schema], schema=schema))
    found = load_history(tmp_path)
    assert found.events.empty
    assert any(str(d).startswith("history/w.1/events.arrows: not a events history") for d in found.damage)


@pytest.mark.parametrize("content, problem", [
    ("[1, 2]", "holds a JSON list, not an object"), ("", "empty"), ('{"kind": "consumer"', "not valid JSON"),
    ('{"kind": "consumer", "config": {"topics": ["t"]}}', "config.isolation: Field required"),
    ('{"kind": "reader"}', "kind: Input should be"),
])
def test_a_process_json_of_the_wrong_shape_is_damage(tmp_path, content, problem):
    write_sample(tmp_path / "history" / "p1.1")
    (tmp_path / "history" / "p1.1" / "process.json").write_text(content)
    assert any(d.startswith("history/p1.1/process.json: ") and problem in d for d in damage_of(tmp_path))


def test_format_1_runs_still_load_as_before(tmp_path):
    """A history written before checksums, end marks and the manifest: read as it always was."""
    directory = tmp_path / "history" / "p1.1"
    directory.mkdir(parents=True)
    (directory / "process.json").write_text('{"kind": "producer", "producer": 3, "semantics": "at-least-once"}')
    schema = SCHEMAS[Table.INVOKES]
    with pa.OSFile(str(directory / "invokes.arrows"), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        writer.write_batch(pa.record_batch([pa.array([3, 3], type=f.type) if f.name == "producer" else
                                            pa.array([0, 1], type=f.type) if f.name == "seq" else
                                            pa.array(["t", "t"]) if f.name == "topic" else
                                            pa.array([None, None], type=f.type) if f.name.startswith("source") or
                                            f.name == "key" else pa.array([0, 0], type=f.type) for f in schema],
                                           schema=schema))
    found = load_history(tmp_path)
    assert found.format == 1 and found.damage == [] and len(found.sends) == 2


def test_the_manifest_records_starts_and_exits_with_seals_for_the_killed(tmp_path):
    run_dir = two_workers(tmp_path, killed=True)
    manifest = read_manifest(RunDir(run_dir).manifest)
    assert manifest.problems == []
    assert manifest.incarnations["p1.1"].must_be_whole and manifest.incarnations["p1.1"].files is None
    killed = manifest.incarnations["c1.1"]
    assert killed.exit == -9 and not killed.must_be_whole
    assert set(killed.files) == {f"{t}.arrows" for t in Table}


def test_an_unreadable_history_file_is_damage_not_an_empty_one(tmp_path, monkeypatch):
    run_dir = two_workers(tmp_path)
    real = pa.memory_map

    def denied(path, *args, **kwargs):
        if path.endswith("c1.1/reads.arrows"):
            raise PermissionError(13, "Permission denied", path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pa, "memory_map", denied)  # as for a non-root user without read permission
    found = load_history(run_dir)
    assert found.reads.empty
    assert any(str(d).startswith("history/c1.1/reads.arrows: cannot read") for d in found.damage)
