"""`kafka-chaos check`: verdict files and exit codes on stored runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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



def test_not_a_run_is_a_usage_error_and_gets_no_verdict(tmp_path):
    (tmp_path / "history").mkdir()  # an empty history directory does not make a run either
    for args in (["check", str(tmp_path)], ["check", str(tmp_path), "--semantics", "at-least-once"],
                 ["report", str(tmp_path)], ["history", str(tmp_path)]):
        result = kafka_chaos(*args)
        assert result.returncode == 2 and "Traceback" not in result.stderr, args
        assert f"{tmp_path}: not a run directory" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history"]


# ---- damaged and hostile run directories (issue 19) --------------------------------------------


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """The command line in this process (quicker than a subprocess): exit code, stdout, stderr."""
    from harness.cli import main as command_line

    argv, sys.argv = sys.argv, ["kafka-chaos", *args]
    try:
        code = command_line._run()
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    return int(code), out, err


def clean_run(tmp_path) -> Path:
    run = Run()
    for seq in range(10):
        run.send(1, seq)
    run.final_reads()
    run_dir = run.write(tmp_path / "run")
    (run_dir / "experiment.json").write_text(json.dumps({"name": "x", "semantics": "at-least-once"}))
    (run_dir / "events.jsonl").write_text(json.dumps({"mono": 10**9, "wall": 1, "source": "phase", "kind": "steady",
                                                      "text": "steady"}) + "\n")
    return run_dir


def test_a_damaged_run_is_unknown_exit_3_and_the_verdict_names_the_file(tmp_path, capsys):
    run_dir = clean_run(tmp_path)
    path = run_dir / "history" / "p1.1" / "completions.arrows"
    os.truncate(path, path.stat().st_size // 2)
    code, out, err = cli(capsys, "check", str(run_dir))
    assert code == 3 and "Traceback" not in err
    assert "damaged history: history/p1.1/completions.arrows: cut short" in err
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["verdict"] == "unknown" and verdict["damage"][0].startswith("history/p1.1/completions.arrows")
    assert all(i["status"] in ("unknown", "not-applicable") for i in verdict["invariants"])


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["experiment.json", "run.json", "events.jsonl", "verdict.json",
                                  "observer/samples.jsonl", "history/workers.jsonl", "history/p1.1/process.json",
                                  "history/p1.1/invokes.arrows", "history/final-read-committed.1/reads.arrows"])
def test_a_fifo_in_place_of_a_run_file_never_hangs(tmp_path, capsys, name):
    run_dir = clean_run(tmp_path)
    path = run_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    os.mkfifo(path)  # nobody ever writes to it: opening it to read would block forever
    for args in (["check", str(run_dir), "--semantics", "at-least-once"], ["history", str(run_dir)],
                 ["report", str(run_dir)]):
        code, out, err = cli(capsys, *args)
        assert "Traceback" not in err and code in (0, 2, 3), (args, code, err)
        if args[0] == "check" and name.startswith("history/"):
            assert code == 3 and f"{name}: a FIFO, not a regular file" in err


def test_a_damaged_experiment_json_is_bad_input_unless_semantics_are_given(tmp_path, capsys):
    run_dir = clean_run(tmp_path)
    for content in ("", '{"name": "x", "sem', "[]", '{"semantics": "most-once"}', '{"semantics": "at-least-once", '
                                                                              '"anomalies": [1]}'):
        (run_dir / "experiment.json").write_text(content)
        code, _, err = cli(capsys, "check", str(run_dir))
        assert code == 2 and "experiment.json" in err and "give --semantics" in err, (content, err)
        assert "Traceback" not in err
    code, out, err = cli(capsys, "check", str(run_dir), "--semantics", "at-least-once", "--json")
    assert code == 0 and "experiment.json" in json.loads(out)["errors"][0]


def test_history_takes_any_limit_and_an_unexpected_error_is_exit_3_with_the_traceback_logged(tmp_path, capsys,
                                                                                             monkeypatch):
    run_dir = clean_run(tmp_path)
    code, out, _ = cli(capsys, "history", str(run_dir), "--limit", str(10**25))
    assert code == 0 and len(out.splitlines()) > 10
    monkeypatch.setenv("KAFKA_CHAOS_STATE", str(tmp_path / "state"))

    def broken(*args, **kwargs):
        raise RuntimeError("a harness bug")

    monkeypatch.setattr("harness.checker.check.check", broken)
    code, _, err = cli(capsys, "check", str(run_dir))
    assert code == 3 and len(err.strip().splitlines()) == 1
    assert "internal error: RuntimeError: a harness bug (traceback in " in err
    log = Path(err.split("traceback in ")[1].rstrip(")\n"))
    assert log.parent == tmp_path / "state" / "crashes" and "Traceback" in log.read_text()


@pytest.mark.timeout(300)
def test_a_two_million_line_event_log_is_reported_in_bounded_time_and_memory(tmp_path):
    run_dir = clean_run(tmp_path)
    line = json.dumps({"mono": 10**9 + 1, "wall": 1, "source": "observer", "kind": "isr", "text": "x" * 40}) + "\n"
    with open(run_dir / "events.jsonl", "w") as out:
        for _ in range(200):
            out.write(line * 10_000)  # 2,000,000 lines
    code = ("import resource, sys, time; from harness.report.html import write_report; t = time.monotonic(); "
            f"write_report(__import__('pathlib').Path({str(run_dir)!r})); "
            "print(time.monotonic() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, result.stderr
    seconds, peak_kb = result.stdout.split()
    assert float(seconds) < 30 and int(peak_kb) < 1_000_000, result.stdout
    assert "more events in events.jsonl" in (run_dir / "report.html").read_text()


def test_output_to_a_full_device_and_ctrl_c_while_starting_end_in_one_line(tmp_path):
    run_dir = clean_run(tmp_path)
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "harness", "check", str(run_dir)], stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 3 and result.stderr.strip() == "kafka-chaos: cannot write the output: No space left on device"
    interrupted = 0
    for delay in (0.3, 0.6, 1.0, 1.5):  # while the interpreter, then the harness, is still loading
        process = subprocess.Popen([sys.executable, "-m", "harness", "check", str(run_dir)], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
        assert "Traceback" not in err and err.strip() in ("", "interrupted"), (delay, err)
        if process.returncode == 0:  # a fast machine finished the check before the signal came: a whole verdict
            assert "PASS" in out, out
            continue
        # 130 once the harness handles it; -SIGINT if it came before Python had a handler at all
        assert process.returncode in (130, -signal.SIGINT), (delay, process.returncode, err)
        interrupted += 1
    assert interrupted, "every check finished before its signal: no interrupt was tested"
