"""Reproducing failures on real clusters: replay runs the same planned faults, --repeat and
--until-fail count runs that met their expectation, shrink finds the fault that matters."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from harness.events import read_events
from harness.experiment.loader import parse
from harness.faults.schedule import plan
from tests.integration.test_orchestrator import kafka_chaos, nothing_left

pytestmark = pytest.mark.cluster

SHORT = {"steady_s": 2, "recovery_s": 3, "drain_timeout_s": 60, "final_read_timeout_s": 60}
LOSSY_CONSUMER = {  # at-least-once asked of a consumer that commits before processing
    "semantics": "at-least-once", "expect": "violation",
    "topics": [{"name": "jobs", "partitions": 2, "config": {"min.insync.replicas": 2}}],
    "workload": {"producers": [{"name": "p1", "topics": ["jobs"], "rate": 300}],
                 "consumers": [{"name": "c1", "topics": ["jobs"], "group": "workers", "commit": "before-processing",
                                "batch_size": 100, "processing_ms": 5}]},
}
CRASH_WHILE_HOLDING = {"fault": "kill-worker", "worker": "c1", "window": "committed-unprocessed"}
HARMLESS = {"fault": "pause", "target": "random"}  # a node paused for 2 s loses nothing under acks=all


def write(tmp_path: Path, name: str, **fields) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, **fields}, sort_keys=False))
    return path


def injections(run_dir: Path) -> list[tuple]:
    """(index, fault, targets, planned seconds into the fault phase) of every fault injected on time."""
    events = [e for e in read_events(run_dir) if e["source"] == "fault" and e["kind"] == "inject"]
    assert all(e["lag_ms"] < 5000 for e in events), events  # each in effect soon after its planned moment
    return [(e["index"], e["fault"], e["targets"], e["at_s"]) for e in events]


def test_replay_runs_the_same_faults_at_the_same_times_on_the_same_nodes(tmp_path):
    nemesis = {"kind": "nemesis", "duration_s": [1, 2], "stable_s": [1, 2], "faults": [
        {"fault": "pause", "target": "random"}, {"fault": "kill", "target": "minority"},
        {"fault": "partition", "shape": "halves"}]}
    experiment = write(tmp_path, "nemesis-replay", semantics="at-least-once", faults=nemesis,
                       topics=[{"name": "t", "partitions": 3, "config": {"min.insync.replicas": 2}}],
                       workload={"producers": [{"name": "p1", "topics": ["t"], "rate": 200}]},
                       phases={**SHORT, "faults_s": 12})
    out = tmp_path / "runs"
    first = kafka_chaos("run", str(experiment), "--out", str(out), "--keep-cluster")
    [original] = out.glob("*-nemesis-replay")
    assert f"replay: kafka-chaos replay {original}" in first.stdout
    again = kafka_chaos("replay", str(original), "--out", str(out))
    replayed = next(p for p in out.glob("*-nemesis-replay") if p != original)
    assert again.returncode == first.returncode, again.stdout + again.stderr
    assert injections(replayed) == injections(original) and len(injections(original)) >= 3
    record = json.loads((replayed / "run.json").read_text())
    assert record["seed"] == json.loads((original / "run.json").read_text())["seed"]
    assert record["replayed_from"] == str(original)
    assert nothing_left() == []


@pytest.mark.slow  # five runs, about two minutes; the repeat test below keeps the loop in CI
def test_until_fail_stops_at_the_first_catch_and_a_pass_runs_to_the_max(tmp_path):
    out = tmp_path / "runs"
    known_bad = write(tmp_path, "always-caught", **LOSSY_CONSUMER, phases={**SHORT, "faults_s": 6},
                      faults={"kind": "timeline", "steps": [{"at": 1, "duration": 2, "fault": CRASH_WHILE_HOLDING}]})
    caught = kafka_chaos("run", str(known_bad), "--until-fail", "--max", "3", "--out", str(out), "--keep-cluster")
    assert caught.returncode == 0, caught.stdout + caught.stderr
    assert [r["outcome"] for r in records_of(out, "always-caught")] == ["caught-as-expected"]

    known_good = write(tmp_path, "never-fails", **{**LOSSY_CONSUMER, "expect": "pass"}, phases={**SHORT, "faults_s": 6},
                       faults={"kind": "timeline", "steps": [{"at": 1, "duration": 2, "fault": HARMLESS}]})
    passed = kafka_chaos("run", str(known_good), "--until-fail", "--max", "2", "--out", str(out))
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert [r["outcome"] for r in records_of(out, "never-fails")] == ["pass", "pass"]
    assert "2 of 2 runs met the expectation" in passed.stdout
    assert nothing_left() == []


def test_repeat_counts_the_runs_that_missed(tmp_path):
    out = tmp_path / "runs"
    # One fault a run, drawn from the seed: the crash (caught) for some seeds, the pause (missed) for others.
    sometimes = dict(LOSSY_CONSUMER, phases={**SHORT, "faults_s": 4},
                     faults={"kind": "nemesis", "duration_s": [2, 2], "stable_s": [1, 1],
                             "faults": [CRASH_WHILE_HOLDING, HARMLESS]})
    base = first_mixed_seeds(sometimes)
    flaky = write(tmp_path, "sometimes-caught", **sometimes)
    mixed = kafka_chaos("run", str(flaky), "--repeat", "2", "--seed", str(base), "--out", str(out))
    assert mixed.returncode == 1, mixed.stdout + mixed.stderr
    outcomes = [r["outcome"] for r in records_of(out, "sometimes-caught")]
    expected = ["caught-as-expected" if crash else "not-caught" for crash in crashes(sometimes, range(base, base + 2))]
    assert outcomes == expected
    assert f"{expected.count('caught-as-expected')} of 2 runs met the expectation" in mixed.stdout
    missed = [line for line in mixed.stdout.splitlines() if re.search(r"\bnot-caught\b.*\bNO\b", line)]
    assert len(missed) == expected.count("not-caught")
    assert nothing_left() == []


def crashes(experiment: dict, seeds) -> list[bool]:
    """Whether the run with each seed plans the crash (the plan is a pure function of the seed)."""
    parsed = parse(yaml.safe_dump({"name": "x", **experiment}))
    return [plan(parsed.faults, seed, parsed.phases.faults_s)[0].fault.name == "kill-worker" for seed in seeds]


def first_mixed_seeds(experiment: dict) -> int:
    """The first seed that, with the next, plans the crash for one run and the pause for the other."""
    return next(s for s in range(1000) if len(set(crashes(experiment, range(s, s + 2)))) == 2)


def records_of(out: Path, name: str) -> list[dict]:
    found = [json.loads(p.read_text()) for p in out.glob(f"*-{name}/run.json")]
    return sorted(found, key=lambda r: r["started_wall"])


@pytest.mark.slow  # about seven minutes of runs; the full suite and benchmarks/shrink.py run it
def test_a_mixed_schedule_shrinks_to_the_isolation_that_loses_writes(tmp_path):
    """acks=1 with unclean leader election loses writes when the leader is isolated; kills,
    pauses and latency around it do not matter."""
    isolation = {"fault": "partition", "shape": "isolate", "target": {"leader": {"topic": "orders"}}}
    steps = [{"at": 1, "duration": 2, "fault": {"fault": "pause", "target": "random"}},
             {"at": 2, "duration": 3, "fault": {"fault": "latency", "ms": 30, "target": "all"}},
             {"at": 4, "duration": 18, "fault": isolation},
             {"at": 5, "duration": 2, "fault": {"fault": "kill", "target": "minority"}}]
    experiment = write(tmp_path, "mixed-loss", semantics="at-least-once", expect="violation",
                       topics=[{"name": "orders", "partitions": 1,
                                "config": {"min.insync.replicas": 1, "unclean.leader.election.enable": True}}],
                       workload={"producers": [{"name": "p1", "topics": ["orders"], "rate": 300,
                                                "client": {"acks": "1", "enable.idempotence": False}}]},
                       phases={**SHORT, "faults_s": 23}, faults={"kind": "timeline", "steps": steps})
    out = tmp_path / "runs"
    first = kafka_chaos("run", str(experiment), "--out", str(out))
    assert first.returncode == 0, first.stdout  # caught: it lost writes
    [failing] = out.glob("*-mixed-loss")
    shrunk = kafka_chaos("shrink", str(failing), "--budget", "4m", "--tries", "1", "--out", str(out / "shrink"),
                         timeout=900)
    assert shrunk.returncode == 0, shrunk.stdout + shrunk.stderr
    assert re.search(r"shrunk 4 faults, 28 s → [12] faults?, \d+(\.\d+)? s", shrunk.stdout), shrunk.stdout
    data = yaml.safe_load((failing / "shrunk.yaml").read_text())
    assert 1 <= len(data["faults"]["steps"]) <= 2
    assert "partition" in [s["fault"]["fault"] for s in data["faults"]["steps"]]
    assert kafka_chaos("validate", str(failing / "shrunk.yaml")).returncode == 0
    # It failed in the search and again when confirmed; it is at the edge of failing, so give it two runs.
    again = kafka_chaos("run", str(failing / "shrunk.yaml"), "--until-fail", "--max", "2", "--out", str(out / "again"))
    assert "CAUGHT-AS-EXPECTED" in again.stdout, again.stdout  # the exit code counts a first miss too
    assert "lost-write" in again.stdout
    candidates = [json.loads(p.read_text()) for p in (out / "shrink").glob("*/run.json")]
    assert candidates and all(c["shrunk_from"] == str(failing) for c in candidates)
    assert str(failing) in (Path(candidates[0]["run_dir"]) / "report.html").read_text()
    print(shrunk.stdout)
    assert nothing_left() == []
