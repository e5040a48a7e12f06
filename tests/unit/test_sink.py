"""Sinks without a database: how the checker judges a dumped table (duplicate and lost
processing, a missing or damaged dump), the sink's config presets, and experiments with sinks."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checker.check import check
from harness.checker.model import AnomalyKind, Status, Verdict
from harness.database import table
from harness.errors import UsageError
from harness.experiment.loader import parse
from harness.rundir import RunDir
from harness.semantics import Semantics
from harness.workload.config import SinkConfig, SinkMode, resolve
from tests.histories import Run

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def judged(run: Run, change=None):
    with tempfile.TemporaryDirectory() as directory:
        run.write(Path(directory))
        if change:
            change(RunDir(directory))
        result = check(Path(directory))
    assert not result.errors, result.errors
    return result


def status(result, kind: AnomalyKind):
    return next(i for i in result.invariants if i.kind == kind)


def sink_run(rng: random.Random) -> tuple[Run, int, int]:
    """A run whose sink wrote each input 0, 1 or 2 times, with stored offsets up to some point
    of each partition: (run, expected duplicates, expected lost)."""
    run = Run("exactly-once")
    partitions = rng.randint(1, 3)
    for seq in range(rng.randint(1, 40)):
        run.send(1, seq, partition=rng.randrange(partitions))
    sink = run.reader("s1", "sink", "read_committed", group="g")
    duplicates = lost = 0
    for (topic, partition), entries in sorted(run.log.items()):
        reach = rng.randint(0, len(entries))  # the offset the database stores
        written = []
        for offset in range(len(entries)):
            times = rng.choice([1, 1, 1, 2, 0]) if offset < reach else rng.choice([0, 0, 1])
            written += [(topic, partition, offset)] * times
            duplicates += times > 1
        # anything written counts as processed up to it: the reach is the stored offset or one past the last row
        last = max([o + 1 for _, _, o in written], default=0)
        lost += sum(1 for o in range(max(reach, last)) if (topic, partition, o) not in written)
        rng.shuffle(written)
        run.sink_rows(sink, written)
        if reach:
            run.stored_offset("g", topic, partition, reach)
    run.final_reads()
    return run, duplicates, lost


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
def test_a_sinks_table_is_judged_row_by_row(seed):
    run, duplicates, lost = sink_run(random.Random(seed))
    result = judged(run)
    assert status(result, AnomalyKind.DUPLICATE_PROCESSING).count == duplicates
    assert status(result, AnomalyKind.LOST_PROCESSING).count == lost
    assert result.verdict == (Verdict.VIOLATION if duplicates or lost else Verdict.PASS)


def test_duplicate_rows_name_the_incarnations_and_transactions_that_wrote_them():
    run = Run("exactly-once")
    for seq in range(3):
        run.send(1, seq)
    sink = run.reader("s1", "sink", "read_committed", group="g")
    run.sink_rows(sink, [("t", 0, 0), ("t", 0, 1)], txn=1)
    run.sink_rows(sink, [("t", 0, 1), ("t", 0, 2)], txn=2)
    run.final_reads()
    result = judged(run)
    [found] = result.anomalies["duplicate-processing"]
    assert found["value"] == "p1:1" and [r["txn"] for r in found["database_rows"]] == [1, 2]
    assert "wrote p1:1 into the database 2 times" in found["explanation"]


@pytest.mark.parametrize("damage", ["missing", "other schema", "not arrow"])
def test_a_missing_or_damaged_dump_makes_processing_unknown(damage):
    run = Run("exactly-once")
    run.send(1, 0)
    sink = run.reader("s1", "sink", "read_committed", group="g")
    run.sink_rows(sink, [("t", 0, 0), ("t", 0, 0)])
    run.final_reads()

    def spoil(directory: RunDir) -> None:
        if damage == "missing":
            directory.database_rows.unlink()
        elif damage == "other schema":
            table._write(directory.database_rows, table.OFFSETS, [])
        else:
            directory.database_rows.write_bytes(b"rows")

    result = judged(run, spoil)
    for kind in (AnomalyKind.DUPLICATE_PROCESSING, AnomalyKind.LOST_PROCESSING):
        invariant = status(result, kind)
        assert invariant.status == Status.UNKNOWN and "database/rows.arrow" in invariant.note
    assert result.verdict == Verdict.UNKNOWN


def test_a_consumer_groups_duplicates_still_fail_when_the_sinks_dump_is_missing():
    run = Run("exactly-once")
    run.send(1, 0)
    consumer = run.reader("c1", "consumer", "read_committed", group="gc")
    run.consume(consumer, [("t", 0, 0), ("t", 0, 0)])
    run.reader("s1", "sink", "read_committed", group="g")
    run.final_reads()
    result = judged(run)  # no database at all
    invariant = status(result, AnomalyKind.DUPLICATE_PROCESSING)
    assert invariant.count == 1 and invariant.status == Status.FAIL and result.verdict == Verdict.VIOLATION


@pytest.mark.parametrize("semantics, mode", [(Semantics.EXACTLY_ONCE, SinkMode.EXACTLY_ONCE),
                                             (Semantics.AT_LEAST_ONCE, SinkMode.AT_LEAST_ONCE),
                                             (Semantics.AT_MOST_ONCE, SinkMode.AT_LEAST_ONCE)])
def test_a_sinks_mode_follows_the_semantics_unless_given(semantics, mode):
    worker, clients = resolve(SinkConfig(name="s1", input="t", group="g", client={"isolation.level": "x"}), semantics)
    assert worker.mode == mode and clients.consumer["isolation.level"] == "read_committed"
    assert clients.consumer["enable.auto.commit"] is False
    given_mode = resolve(SinkConfig(name="s1", input="t", group="g", mode="exactly-once"), Semantics.AT_LEAST_ONCE)
    assert given_mode[0].mode == SinkMode.EXACTLY_ONCE


EXPERIMENT = """
name: sink
semantics: exactly-once
topics: [{name: t}]
workload:
  producers: [{name: p1, topics: [t]}]
  {sinks}
faults: {kind: timeline, steps: [{at: 1, duration: 1, fault: {fault: kill-database}}]}
"""


def test_kill_database_needs_a_sink_and_a_sinks_input_must_be_declared():
    assert parse(EXPERIMENT.replace("{sinks}", "sinks: [{name: s1, input: t, group: g}]"), "x.yaml").workload.sinks
    with pytest.raises(UsageError, match="kill-database needs a sink"):
        parse(EXPERIMENT.replace("{sinks}", ""), "x.yaml")
    with pytest.raises(UsageError, match=r"topics \['u'\] are not declared"):
        parse(EXPERIMENT.replace("{sinks}", "sinks: [{name: s1, input: u, group: g}]"), "x.yaml")
