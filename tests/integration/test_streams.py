"""A real Kafka Streams application on a real cluster: under at_least_once, SIGKILLed instances
count records twice (duplicate output and over-counted keys, both found); under exactly_once_v2
the same kills and a broker kill leave exactly one committed output per input and exact counts,
with a restarted instance restoring its state and carrying on. No instance outlives its run.

Both are slow (a cluster, two JVM instances and two runs of about two minutes each): the full
suite and the catalogue run them, CI does not."""

from __future__ import annotations

import psutil
import pytest

from harness import api
from harness.events import read_events
from harness.history.load import load_history
from harness.rundir.record import Outcome
from harness.workload.streams import MAIN
from tests.support import eventually

pytestmark = [pytest.mark.cluster]
HOME = dict(name="st1", subnet=140, port_base=44000)


def instances_left(run_dir) -> list[int]:
    """Kafka Streams JVMs of this run still running."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        line = process.info["cmdline"] or []
        if MAIN in line and any(str(run_dir) in part for part in line):
            found.append(process.pid)
    return found


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    with api.Session(out=tmp_path_factory.mktemp("streams"), home=HOME) as chaos:
        yield chaos


@pytest.mark.slow
def test_at_least_once_streams_killed_between_commits_counts_twice(session):
    result = session.run("experiments/streams-at-least-once-instance-kill.yaml", seed=3)
    assert result.outcome == Outcome.CAUGHT, result.record.message
    duplicates = result.anomalies["duplicate-processing"]
    assert duplicates and all(len(d["committed_outputs"]) >= 2 for d in duplicates[:20])
    over = result.anomalies["overcounted-state"]
    assert over and all(d["state"] > d["distinct_inputs_readable"] for d in over[:20])
    assert not {"lost-processing", "undercounted-state", "phantom"} & set(result.anomalies)
    eventually(lambda: instances_left(result.run_dir) == [], timeout=10)


@pytest.mark.slow
def test_exactly_once_streams_survive_instance_kills_and_a_broker_kill(session):
    result = session.run("experiments/streams-eos-instance-kill.yaml", seed=3)
    assert result.outcome == Outcome.PASS, result.record.message
    invariants = {i.kind.value: i for i in result.check.invariants}
    for kind in ("duplicate-processing", "lost-processing", "overcounted-state", "undercounted-state"):
        assert invariants[kind].status.value == "pass", (kind, invariants[kind])
    injected = [e["fault"] for e in read_events(result.run_dir) if e["source"] == "fault" and e["kind"] == "inject"]
    assert injected == ["kill-worker", "kill", "kill-worker"]
    history = load_history(result.run_dir)
    restarted = history.reads[(history.reads["worker"] == "s1") & (history.reads["incarnation"] == 2)]
    assert len(restarted), "the restarted instance processed input"
    events = history.events
    restored = events[(events["kind"] == "restore") & (events["incarnation"] > 1) & (events["offset"] > 0)]
    assert len(restored), "a restarted instance restored counts from the changelog"
    eventually(lambda: instances_left(result.run_dir) == [], timeout=10)
