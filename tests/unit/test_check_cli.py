"""`kafka-chaos check`: verdict files and exit codes on stored runs."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.histories import Run


def kafka_chaos(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=120)


def test_clean_run_exits_0_and_writes_the_verdict(tmp_path):
    run = Run()
    run.send(1, 0)
    run.final_reads()
    result = kafka_chaos("check", str(run.write(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "verdict.json").read_text())["verdict"] == "pass"


def test_violation_exits_1_and_json_names_the_anomaly(tmp_path):
    run = Run()
    lost = run.send(1, 0)
    other = run.send(2, 0, outcome="pending", in_log=False)
    run.log[("t", 0)][lost.offset] = other.vid
    run.final_reads()
    result = kafka_chaos("check", str(run.write(tmp_path)), "--json")
    assert result.returncode == 1
    verdict = json.loads(result.stdout)
    assert verdict["verdict"] == "violation" and verdict["anomalies"]["lost-write"][0]["value"] == "p1:0"


def test_nothing_proven_exits_3(tmp_path):
    run = Run()
    run.send(1, 0)
    run.final_reads()
    for isolation in ("read_committed", "read_uncommitted"):
        run.final(isolation).proofs[("t", 0)] = (0, 1, -1)
    assert kafka_chaos("check", str(run.write(tmp_path))).returncode == 3


def test_a_run_without_its_final_read_is_unknown_and_says_why(tmp_path):
    run = Run()
    run.send(1, 0)  # the run was interrupted before its final read
    result = kafka_chaos("check", str(run.write(tmp_path)), "--json")
    assert result.returncode == 3
    verdict = json.loads(result.stdout)
    lost = next(i for i in verdict["invariants"] if i["kind"] == "lost-write")
    assert verdict["verdict"] == "unknown" and lost["status"] == "unknown" and "no final read" in lost["note"]
    assert verdict["anomalies"]["unseen"][0]["value"] == "p1:0"


def test_not_a_run_is_a_usage_error(tmp_path):
    result = kafka_chaos("check", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "semantics" in result.stderr
