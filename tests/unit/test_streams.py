"""The Kafka Streams worker without a cluster: how the checker judges an application's committed
output (duplicate and lost processing) and its state (over- and under-counted keys), the
application's record turned into the history, its settings, and experiments with streams."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checker.check import check
from harness.checker.model import AnomalyKind, Verdict
from harness.errors import UsageError
from harness.experiment.loader import parse
from harness.history.load import load_history
from harness.orchestrator.fold import fold
from harness.rundir import RunDir, WorkerDir
from harness.rundir.record import Outcome, RunRecord
from harness.semantics import Semantics
from harness.workload import streams
from harness.workload.config import Runtime, StreamsConfig, StreamsGuarantee, resolve
from tests.histories import INJECT, TOPIC, Run, streams_app

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reported(run: Run, change=None) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as directory:
        run.write(Path(directory))
        if change:
            change(RunDir(directory))
        result = check(Path(directory))
    assert not result.errors, result.errors
    return {i.kind.value: i.count for i in result.invariants if i.count}


def judged(run: Run, change=None):
    with tempfile.TemporaryDirectory() as directory:
        run.write(Path(directory))
        if change:
            change(RunDir(directory))
        return check(Path(directory))


def streams_run(rng: random.Random, eos: bool) -> tuple[Run, int, int]:
    """An application counting keyed inputs, crashing now and then: under exactly-once a crash
    aborts what it did since its last commit (outputs invisible, counts rolled back) and it
    processes that again; under at-least-once the outputs and the changelog stay, so the count
    goes on from there. Returns (run, inputs with more than one committed output, keys over-counted)."""
    run = Run("exactly-once")
    partitions, keys = rng.randint(1, 3), [f"k{i}" for i in range(rng.randint(1, 5))]
    inputs = []
    for seq in range(rng.randint(1, 30)):
        key = rng.choice(keys)
        inputs.append(run.send(9, seq, partition=int(key[1:]) % partitions, key=key))
    app = streams_app(run, topic=TOPIC, isolation="read_committed" if eos else "read_uncommitted")
    state: dict[str, int] = {}
    committed_outputs: dict[int, int] = {}
    generation, crashes = 1, 0
    for partition in range(partitions):
        mine = [s for s in inputs if s.partition == partition]
        done = i = 0  # committed position, next to process
        pending = []  # (input, output) since the last commit
        while i < len(mine):
            record = mine[i]
            run.consume(app, [(TOPIC, partition, record.offset)], generation)
            state[record.key] = state.get(record.key, 0) + 1
            pending.append((record, run.streams_output(app, record, state[record.key])))
            i += 1
            if rng.random() < 0.3 or i == len(mine):
                done, pending = i, []  # a commit
            elif crashes < 3 and rng.random() < 0.15:
                crashes += 1
                for source, output in pending:
                    if eos:  # the transaction aborts: outputs invisible, counts as the changelog had them
                        run.uncommitted.add(output.vid)
                        state[source.key] -= 1
                i, pending, generation = done, [], generation + 1
    for output in run.sends:
        if output.producer == app.producer and output.vid not in run.uncommitted:
            committed_outputs[output.source[1]] = committed_outputs.get(output.source[1], 0) + 1
    run.final_reads()
    duplicated = sum(1 for times in committed_outputs.values() if times > 1)
    distinct = {k: sum(1 for s in inputs if s.key == k) for k in keys}
    over = sum(1 for k, count in state.items() if count > distinct[k])
    return run, duplicated, over


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
def test_exactly_once_streams_through_crashes_is_clean(seed):
    run, duplicated, over = streams_run(random.Random(seed), eos=True)
    assert (duplicated, over) == (0, 0)
    assert reported(run) == {}


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
def test_at_least_once_streams_crashes_show_as_duplicates_and_overcounts(seed):
    run, duplicated, over = streams_run(random.Random(seed), eos=False)
    expected = {k: n for k, n in (("duplicate-processing", duplicated), ("overcounted-state", over)) if n}
    assert reported(run) == expected


@pytest.mark.parametrize("kind", ["overcounted-state", "undercounted-state"])
def test_an_injected_state_anomaly_is_found_alone(kind):
    run = Run("exactly-once")
    INJECT[kind](run, random.Random(1))
    assert reported(run) == {kind: 1}


def test_an_input_without_committed_output_is_lost_processing_and_undercounts():
    run = Run("exactly-once")
    inputs = [run.send(9, seq, key="k") for seq in range(3)]
    app = streams_app(run, topic=TOPIC)
    for record in inputs:
        run.consume(app, [(TOPIC, 0, record.offset)])
    run.streams_output(app, inputs[0], 1)
    run.streams_output(app, inputs[1], 2, committed=False)  # aborted, never redone
    run.streams_output(app, inputs[2], 2)
    run.final_reads()
    assert reported(run) == {"lost-processing": 1, "undercounted-state": 1}


def _retry_written_twice(run: Run, producer: int) -> None:
    """Key k: one send of `producer` in the input log twice (a retry), both read and counted."""
    record = run.send(producer, 0, key="k")
    again = run.append(TOPIC, 0, record.vid)
    app = streams_app(run, topic=TOPIC)
    run.consume(app, [(TOPIC, 0, record.offset), (TOPIC, 0, again)])
    run.streams_output(app, record, 1)
    run.streams_output(app, record, 2)


@pytest.mark.parametrize("semantics, verdict", [("exactly-once", Verdict.VIOLATION), ("at-least-once", Verdict.PASS)])
def test_a_retry_written_twice_without_idempotence_is_a_duplicate_and_leaves_the_count_unjudged(semantics, verdict):
    run = Run(semantics)
    run.clients[9] = {"acks": "all", "enable.idempotence": False}
    _retry_written_twice(run, 9)
    run.final_reads()
    result = judged(run)
    overcounted = result.invariant(AnomalyKind.OVERCOUNTED_STATE)
    assert overcounted.status == "unknown" and "without idempotence" in overcounted.note
    assert "overcounted-state" not in result.anomalies and "duplicate" in result.anomalies
    # at-least-once allows overcounts whatever their number: unjudged, it cannot fail the run
    assert result.verdict == verdict


def test_a_passing_run_lists_no_unjudged_allowed_kind_as_failing():
    run = Run("at-least-once")
    run.clients[9] = {"acks": "all", "enable.idempotence": False}
    _retry_written_twice(run, 9)
    run.final_reads()
    record = RunRecord(experiment="e", source="e.yaml", run_dir=Path("/runs/1-e"), semantics="at-least-once",
                       expect="pass", seed=0)
    fold(record, judged(run), [], expect_violation=False)
    assert (record.outcome, record.failing) == (Outcome.PASS, [])


def test_an_overcount_of_an_idempotent_key_is_found_beside_one_that_cannot_be_judged():
    run = Run("at-least-once")
    run.clients[9] = {"acks": "all", "enable.idempotence": False}
    _retry_written_twice(run, 9)  # key k: unjudged
    other = run.send(8, 0, key="j")  # key j: one idempotent input, counted twice
    app = run.readers[-1]
    run.consume(app, [(TOPIC, 0, other.offset)])
    run.streams_output(app, other, 2)
    run.final_reads()
    assert reported(run)["overcounted-state"] == 1
    assert judged(run).anomalies["overcounted-state"][0]["key"] == "j"


def test_state_evidence_names_the_key_its_count_and_the_last_output():
    run = Run("exactly-once")
    INJECT["overcounted-state"](run, random.Random(1))
    result = judged(run)
    evidence = result.anomalies["overcounted-state"][0]
    assert evidence["key"] == "k" and evidence["state"] == 3 and evidence["distinct_inputs_readable"] == 2
    assert "p6:1 at u-counts-0@1" in evidence["explanation"]


def test_duplicate_processing_evidence_names_the_committed_outputs():
    run = Run("exactly-once")
    source = run.send(9, 0, key="k")
    app = streams_app(run, topic=TOPIC)
    for generation, count in ((1, 1), (2, 2)):
        run.consume(app, [(TOPIC, 0, source.offset)], generation)
        run.streams_output(app, source, count)
    run.final_reads()
    result = judged(run)
    evidence = result.anomalies["duplicate-processing"][0]
    assert evidence["committed_outputs"] == ["p6:0 by s9.1", "p6:1 by s9.1"]
    assert "committed 2 outputs" in evidence["explanation"]


def test_a_missing_record_leaves_the_state_unknown():
    run = Run("exactly-once")
    INJECT["overcounted-state"](run, random.Random(1))

    def remove(run_dir: RunDir) -> None:
        run_dir.worker("s9", 1).streams_facts.unlink()

    result = judged(run, remove)
    assert result.invariant(AnomalyKind.OVERCOUNTED_STATE).status == "unknown"
    assert result.verdict == Verdict.UNKNOWN


# ---- the application's record ------------------------------------------------------------

def runtime(tmp_path: Path, **fields) -> Runtime:
    worker = StreamsConfig(name="s1", input="in", output="out", application="app", **fields)
    worker, _ = resolve(worker, Semantics.EXACTLY_ONCE)
    directory = RunDir(tmp_path).worker("s1", 1)
    directory.path.mkdir(parents=True)
    return Runtime(worker=worker, semantics=Semantics.EXACTLY_ONCE, bootstrap_servers="198.18.0.1:9092",
                   history_dir=directory.path, incarnation=1, producer_id=4)


def test_a_cut_last_line_is_left_out_and_a_bad_line_ends_the_record(tmp_path):
    path = tmp_path / "streams.jsonl"
    path.write_text('{"e": "start"}\n{"e": "read", "offset": 1}\n{"e": "out", "se')
    assert [f["e"] for f in streams.facts(path)] == ["start", "read"]
    path.write_text('{"e": "start"}\nnot json\n{"e": "stop"}\n')
    assert [f["e"] for f in streams.facts(path)] == ["start"]
    assert streams.facts(tmp_path / "absent.jsonl") == []


def test_the_record_becomes_the_history(tmp_path):
    rt = runtime(tmp_path)
    directory = WorkerDir(rt.history_dir)
    facts = [{"e": "start", "mono": 1, "wall": 1},
             {"e": "assign", "partition": 0, "mono": 2, "wall": 2},
             {"e": "read", "topic": "in", "partition": 0, "offset": 5, "key": "k", "producer": 1, "seq": 3, "txn": 0,
              "mono": 3, "wall": 3},
             {"e": "out", "seq": 0, "key": "k", "count": 1, "size": 41, "source_producer": 1, "source_seq": 3,
              "mono": 4, "wall": 4}]
    directory.streams_facts.write_text("".join(json.dumps(f) + "\n" for f in facts))
    streams.convert(directory, rt, pid=123)
    history = load_history(tmp_path)
    send = history.sends[history.sends["producer"] == 4].iloc[0]
    assert (send["topic"], send["key"], send["source_producer"], send["source_seq"]) == ("out", "k", 1, 3)
    assert send["outcome"] == "pending"  # Kafka Streams reports no delivery
    read = history.reads.iloc[0]
    assert (read["topic"], read["partition"], read["offset"], read["producer"], read["seq"], read["generation"]) == \
        ("in", 0, 5, 1, 3, 1)
    assert list(history.events["kind"].astype(str)) == ["start", "assign"]
    process = history.processes.iloc[0]
    assert (process["kind"], process["pid"], process["producer"]) == ("streams", 123, 4)
    assert streams.counts(directory, 4).to_dict("records") == [{"producer": 4, "seq": 0, "key": "k", "count": 1}]


def test_the_settings_follow_the_config(tmp_path):
    rt = runtime(tmp_path, standby_replicas=1, commit_interval_ms=500, client={"linger.ms": 5, "x.flag": True})
    settings_ = streams.properties(rt, harness_pid=77)
    assert settings_["processing.guarantee"] == "exactly_once_v2"  # exactly-once semantics' preset
    assert (settings_["num.standby.replicas"], settings_["commit.interval.ms"]) == ("1", "500")
    assert (settings_["linger.ms"], settings_["x.flag"]) == ("5", "true")
    assert settings_["state.dir"] == str(RunDir(tmp_path).streams_state("s1"))
    assert (settings_["kc.producer"], settings_["kc.harness.pid"]) == ("4", "77")
    assert settings_["kc.history"] == str(WorkerDir(rt.history_dir).streams_facts)
    path = tmp_path / "app.properties"
    streams.write_properties(path, {"a.b": "x=y:z", "c": "é"})
    assert path.read_text() == "a.b=x\\=y\\:z\nc=\\u00e9\n"


def test_the_guarantee_follows_the_semantics_unless_set():
    worker = StreamsConfig(name="s1", input="in", output="out", application="app")
    assert resolve(worker, Semantics.AT_LEAST_ONCE)[0].processing_guarantee == StreamsGuarantee.AT_LEAST_ONCE
    assert resolve(worker, Semantics.EXACTLY_ONCE)[0].processing_guarantee == StreamsGuarantee.EXACTLY_ONCE_V2
    alo = worker.model_copy(update={"processing_guarantee": StreamsGuarantee.AT_LEAST_ONCE})
    assert resolve(alo, Semantics.EXACTLY_ONCE)[0].processing_guarantee == StreamsGuarantee.AT_LEAST_ONCE


EXPERIMENT = """
name: streams-x
semantics: exactly-once
topics: [{name: in, partitions: 2}, {name: out, partitions: 2}]
workload:
  producers: [{name: p1, topics: [in]}]
  streams: [{name: s1, input: in, output: %s, application: counter, processing_guarantee: %s}]
"""


def test_an_experiment_with_streams_is_validated():
    exp = parse(EXPERIMENT % ("out", "at_least_once"), "x.yaml")
    assert exp.workload.streams[0].processing_guarantee == StreamsGuarantee.AT_LEAST_ONCE
    with pytest.raises(UsageError, match="not declared"):
        parse(EXPERIMENT % ("nowhere", "at_least_once"), "x.yaml")
    with pytest.raises(UsageError, match="processing_guarantee"):
        parse(EXPERIMENT % ("out", "exactly_once"), "x.yaml")


def test_the_build_is_keyed_by_version_and_sources():
    assert streams.cached("4.4.0").name == f"4.4.0-{streams.source_digest()}"
    assert streams.cached("4.4.0") != streams.cached("3.9.1")


def test_streams_on_a_secured_cluster_or_with_a_window_are_refused():
    secured = EXPERIMENT % ("out", "at_least_once") + "cluster: {security: {protocol: sasl_ssl}}\n"
    with pytest.raises(UsageError, match="plaintext clusters only"):
        parse(secured, "x.yaml")
    windowed = EXPERIMENT % ("out", "at_least_once") + (
        "faults: {kind: timeline, steps: [{at: 1, fault: {fault: kill-worker, worker: s1, "
        "window: processed-uncommitted}}]}\n")
    with pytest.raises(UsageError, match="has no windows"):
        parse(windowed, "x.yaml")
