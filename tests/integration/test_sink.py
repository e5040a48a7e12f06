"""Sinks into a real PostgreSQL on a real cluster: the known-bad at-least-once sink writes rows
twice after a crash and the checker finds them in the table; the exactly-once sink survives its
own crash, a cut from Kafka (it reads nothing while cut, and goes on after) and the database's;
nothing of the database is left behind, also after the harness holding it was SIGKILLed (`kafka-chaos cluster down --name` removes it)."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from harness import api
from harness.database import postgres
from harness.events import read_events
from harness.history.load import load_history
from harness.rundir import RunDir
from harness.rundir.record import Outcome
from tests.support import eventually, short_experiment

pytestmark = [pytest.mark.cluster, pytest.mark.skipif(not postgres.available(), reason="PostgreSQL not installed")]
HOME = dict(name="pg1", subnet=70, port_base=34000)


def database_left(cluster: str) -> list[str]:
    found = [f"postgres {p.pid}" for p in postgres.servers(cluster)]
    return found + [str(p) for p in Path(tempfile.gettempdir()).glob(f"{postgres.PREFIX}{cluster}-*")]


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    with api.Session(out=tmp_path_factory.mktemp("sink"), home=HOME) as chaos:
        yield chaos
    assert database_left("pg1") == []


@pytest.mark.slow
def test_an_at_least_once_sink_killed_between_rows_and_offsets_writes_rows_twice(session):
    result = session.run(short_experiment("db-sink-at-least-once-crash", phases={"steady_s": 3, "faults_s": 6,
                                                                                 "recovery_s": 3}), seed=3)
    assert result.outcome == Outcome.CAUGHT, result.record.message
    duplicates = result.anomalies["duplicate-processing"]
    assert duplicates and all(len({r["sink"] for r in d["database_rows"]}) == 2 for d in duplicates[:20])
    assert "lost-processing" not in result.anomalies
    assert RunDir(result.run_dir).database_rows.exists() and database_left("pg1") == []


@pytest.mark.slow
def test_an_exactly_once_sink_survives_its_crash_and_the_databases(session):
    result = session.run(short_experiment("db-sink-exactly-once-crash",
                                          phases={"steady_s": 3, "faults_s": 18, "recovery_s": 4}), seed=3)
    assert result.outcome == Outcome.PASS, result.record.message
    invariants = {i.kind.value: i for i in result.check.invariants}
    assert invariants["duplicate-processing"].status.value == "pass"
    assert invariants["lost-processing"].status.value == "pass"
    faults = [e for e in read_events(result.run_dir) if e["source"] == "fault"]
    assert {e["fault"] for e in faults if e["kind"] == "inject"} == {"kill-worker", "cut-worker", "kill-database"}
    cut_from, cut_to = (next(e["mono"] for e in faults if e["fault"] == "cut-worker" and e["kind"] == kind)
                        for kind in ("inject", "heal"))
    history = load_history(result.run_dir)
    reads = history.reads[history.reads["worker"] == "s1"]
    assert not ((reads["mono"] > cut_from + 1_000_000_000) & (reads["mono"] < cut_to)).any(), "cut off Kafka"
    assert (reads["mono"] > cut_to).any(), "it reconnected after the cut"
    events = history.events
    sink = events[events["worker"] == "s1"]
    lost_database = sink[(sink["kind"] == "error") & sink["detail"].astype(str).str.startswith("database:")]
    assert len(lost_database), "the database died under a running sink"
    later = sink[(sink["mono"] > lost_database["mono"].min()) & (sink["kind"] == "seek")]
    assert (later["detail"] == "database").all() and len(later), "it rewound to the offsets in the database"
    assert database_left("pg1") == []


HOLD_A_DATABASE = textwrap.dedent("""
    import signal, sys, time
    from harness.database.postgres import Postgres
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # as the command does: unwind, clean up
    with Postgres(sys.argv[1]):
        print("ready", flush=True)
        time.sleep(600)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_harness_stopped_by_a_signal_stops_its_database_and_removes_its_folder(sig):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_A_DATABASE, "pg2"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert len(postgres.servers("pg2")) == 1
        holder.send_signal(sig)
        assert holder.wait(30) != 0
        assert database_left("pg2") == []
    finally:
        holder.kill()
        postgres.sweep("pg2")


def test_cluster_down_removes_the_database_of_a_harness_killed_with_sigkill():
    assert database_left("pg2") == []
    holder = subprocess.Popen([sys.executable, "-c", HOLD_A_DATABASE, "pg2"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert len(postgres.servers("pg2")) == 1, "a killed harness leaves its database running"
        down = subprocess.run([sys.executable, "-m", "harness", "cluster", "down", "--name", "pg2"],
                              capture_output=True, text=True, timeout=120)
        assert down.returncode == 0, down.stderr
        eventually(lambda: database_left("pg2") == [], timeout=10)
    finally:
        holder.kill()
        postgres.sweep("pg2")


def test_a_new_database_sweeps_one_whose_harness_died_and_spares_a_live_ones():
    live = postgres.Postgres("pg2")
    with live:
        holder = subprocess.Popen([sys.executable, "-c", HOLD_A_DATABASE, "pg2"], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "ready"
            holder.send_signal(signal.SIGKILL)
            holder.wait(10)
            with postgres.Postgres("pg2") as fresh:
                assert {p.pid for p in postgres.servers("pg2")} == {live.pid, fresh.pid}
        finally:
            holder.kill()
        assert [p.pid for p in postgres.servers("pg2")] == [live.pid]
    eventually(lambda: database_left("pg2") == [], timeout=10)
