"""`kafka-chaos run` end to end on real clusters: exit codes for a real violation, a caught
known-bad, a cluster that never becomes ready; Ctrl-C in the fault phase; a catalogue subset."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from harness.cluster import state as state_store
from harness.events import read_events
from harness.experiment.catalogue import CATALOGUE
from harness.net import lab
from tests.support import eventually

pytestmark = pytest.mark.cluster

# The catalogue subset CI runs as the files are (each takes 40-70 s): a broker kill producers
# survive, a transformer crash exactly-once survives, a partition that loses acknowledged writes.
# The known-bad consumer that commits before processing is the gate test's, run as its file is.
# The full catalogue (docs/CATALOGUE.md) runs the rest.
CI_SUBSET = ["leader-kill-acks-all", "eos-transformer-crash", "acks1-unclean-leader-isolation"]


def kafka_chaos(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=timeout)


def records(out: Path) -> dict[str, dict]:
    return {json.loads(p.read_text())["experiment"]: json.loads(p.read_text()) for p in out.glob("*/run.json")}


def nothing_left(cluster: str = "run") -> list[str]:
    found = [f"process {p.pid}" for p in state_store.marked_processes(cluster)]
    found += lab.namespaces(cluster) + lab.bridges(cluster)
    found += [f"helper {p.pid}" for p in psutil.process_iter(["cmdline"])
              if {"harness.workload", "harness.observe"} & set(p.info["cmdline"] or [])]
    return found


def experiment_file(tmp_path: Path, source: str, **changes) -> Path:
    data = yaml.safe_load((CATALOGUE / f"{source}.yaml").read_text()) | changes
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def cluster_ids(run_dir: Path) -> list[str]:
    return [e["cluster_id"] for e in read_events(run_dir) if e["source"] == "cluster" and e["kind"] == "ready"]


def test_caught_known_bad_exits_0_and_the_same_unexpected_exits_1(tmp_path):
    """Also: the second run reuses the cluster the first kept (`--keep-cluster`), then removes it."""
    known_bad = experiment_file(tmp_path, "consumer-commits-before-processing-crash")
    surprise = experiment_file(tmp_path, "consumer-commits-before-processing-crash",
                               name="commits-before-processing-expected-to-pass", expect="pass")
    out = tmp_path / "runs"
    assert kafka_chaos("run", str(known_bad), "--out", str(out), "--keep-cluster").returncode == 0
    assert state_store.read_state("run") is not None, "--keep-cluster left the cluster running"
    result = kafka_chaos("run", str(surprise), "--out", str(out), "--junit", str(tmp_path / "junit.xml"))
    assert result.returncode == 1, result.stdout + result.stderr
    outcomes = {name: r["outcome"] for name, r in records(out).items()}
    assert outcomes == {"consumer-commits-before-processing-crash": "caught-as-expected",
                        "commits-before-processing-expected-to-pass": "violation"}
    first, second = (cluster_ids(Path(r["run_dir"])) for r in sorted(records(out).values(),
                                                                     key=lambda r: r["started_wall"]))
    assert len(first) == 1 and first == second, "the second run used the kept cluster"
    junit = (tmp_path / "junit.xml").read_text()
    assert "lost-processing x" in junit and "run directory" in junit
    assert nothing_left() == []


def test_a_cluster_that_never_becomes_ready_exits_3(tmp_path):
    broken = experiment_file(tmp_path, "leader-kill-acks-all", name="broken-cluster",
                             cluster={"broker_config": {"num.io.threads": "many"}})
    result = kafka_chaos("run", str(broken), "--out", str(tmp_path / "runs"))
    assert result.returncode == 3 and "HARNESS-ERROR" in result.stdout
    [record] = records(tmp_path / "runs").values()
    assert record["outcome"] == "harness-error" and "num.io.threads" in record["message"]
    assert nothing_left() == []


def test_ctrl_c_in_the_fault_phase_heals_stops_and_tears_down(tmp_path):
    long_faults = experiment_file(tmp_path, "leader-isolation-min-isr", name="interrupted",
                                  phases={"steady_s": 2, "faults_s": 120, "recovery_s": 5})
    out = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", str(long_faults), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def fault_in_effect() -> bool:
        runs = list(out.glob("*-interrupted"))
        return bool(runs) and any(e["kind"] == "inject" for e in read_events(runs[0]))

    eventually(fault_in_effect, timeout=180)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 130, stderr.decode()
    assert "Traceback" not in stderr.decode()
    [run_dir] = out.glob("*-interrupted")
    kinds = [e["kind"] for e in read_events(run_dir)]
    assert "heal" in kinds and "interrupted" in kinds
    assert nothing_left() == []
    recheck = kafka_chaos("check", str(run_dir))
    assert recheck.returncode in (0, 1, 3) and "Traceback" not in recheck.stderr  # partial run: still checkable
    assert (run_dir / "verdict.json").exists()


def test_catalogue_subset_gives_the_verdicts_its_files_expect(tmp_path):
    files = [str(CATALOGUE / f"{name}.yaml") for name in CI_SUBSET]
    out = tmp_path / "runs"
    started = time.monotonic()
    result = kafka_chaos("run", *files, "--out", str(out), "--junit", str(tmp_path / "junit.xml"), timeout=1800)
    print(f"catalogue subset: {time.monotonic() - started:.0f} s")
    got = {name: r["outcome"] for name, r in records(out).items()}
    expected = {name: "caught-as-expected" if yaml.safe_load((CATALOGUE / f"{name}.yaml").read_text())
                .get("expect") == "violation" else "pass" for name in CI_SUBSET}
    assert got == expected, result.stdout
    assert result.returncode == 0
    assert nothing_left() == []
    # What the observer saw, and the reports that show it.
    [kill_run] = out.glob("*-leader-kill-acks-all")
    killed = [e for e in read_events(kill_run) if e["source"] == "fault" and e["kind"] == "inject"]
    changes = [e for e in read_events(kill_run) if e["source"] == "observer" and e["kind"] == "leader-change"]
    assert killed and any(e["partition"] == 0 and e["mono"] > killed[0]["mono"] for e in changes)
    # Lost writes: the brokers' segment files were read, and the evidence says what they hold.
    [loss_run] = out.glob("*-acks1-unclean-leader-isolation")
    lost = json.loads((loss_run / "verdict.json").read_text())["anomalies"]["lost-write"]
    assert (loss_run / "disk" / "scanned.json").exists()
    assert all(len(e["on_disk"]) == 3 and "disk" in e["explanation"] for e in lost if "explanation" in e)
    for run_dir in out.glob("*/"):
        if run_dir.name.startswith("."):
            continue
        html = (run_dir / "report.html").read_text()
        assert 'alt="Leaders and ISR"' in html and 'alt="Send throughput"' in html, run_dir
        assert f"report: {run_dir / 'report.html'}" in result.stdout
    index = (out / "index.html").read_text()
    assert all(f'href="{d.name}/report.html"' in index for d in out.glob("*/") if not d.name.startswith("."))
