"""The HTML report from stored run directories (no cluster): verdict, anomaly tables, plots,
escaping of everything that came from messages, and the page as headless Chromium renders it."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.checker.check import check, write_verdict
from harness.events import EventLog
from harness.observe.sample import PartitionSample, Sample
from harness.rundir import RunDir
from harness.rundir.record import Outcome, RunRecord
from harness.report.html import write_report
from tests.histories import INJECT, TOPIC, simulate

PAYLOAD = '<script>alert("kc")</script><img src=x onerror=alert(1)>'


def stored_run(folder: Path, name: str, inject: str | None = None, seed: int = 1) -> Path:
    """A run directory as `kafka-chaos run` leaves it: history, events, samples, verdict, run.json."""
    run_dir = folder / name
    rng = random.Random(seed)
    run = simulate(rng)
    run.send(7, 0, topic=PAYLOAD, key=PAYLOAD)  # a hostile topic name and key
    INJECT[inject](run, rng) if inject else run.final_reads()
    run.write(run_dir)
    events = EventLog.in_run(run_dir)
    events.record("phase", "faults", "faults")
    events.record("fault", "inject", f"SIGKILL node 2 ({PAYLOAD})", fault="kill", index=0)
    events.record("observer", "leader-change", f"{TOPIC}-0 leader 2 → 1 (epoch 3)", topic=TOPIC, partition=0)
    events.record("fault", "heal", "healed kill: started node 2", fault="kill", index=0)
    events.close()
    _samples(run_dir, events.events[0]["mono"])
    result = check(run_dir)
    write_verdict(run_dir, result)
    outcome = Outcome.PASS if result.verdict.value == "pass" else Outcome.VIOLATION
    RunRecord(experiment=name, source=f"{name}.yaml", run_dir=run_dir, description=f"about {PAYLOAD}",
              semantics="at-least-once", expect="pass", seed=seed, outcome=outcome, verdict=result.verdict.value,
              started_wall=1_790_000_000 + seed, duration_s=12.5).save()
    (run_dir / "experiment.json").write_text(json.dumps({"name": name, "workload": {"producers": [
        {"name": "p1", "client": {"sasl.password": "hunter2", "acks": "all"}}]}}))
    return run_dir


def _samples(run_dir: Path, start: int) -> None:
    RunDir(run_dir).observer.mkdir(parents=True, exist_ok=True)
    with open(RunDir(run_dir).samples, "w") as out:
        for i, leader in enumerate([2, 2, None, 1, 1]):
            isr = (1, 2, 3) if leader == 2 or i == 4 else (1, 3)
            partition = PartitionSample(TOPIC, 0, leader, i, isr, (1, 2, 3))
            out.write(Sample(start + i * 10**8, 0, 1, 1, (partition,)).to_json() + "\n")


def test_clean_run_report_has_the_verdict_invariants_plots_and_events(tmp_path):
    html = write_report(stored_run(tmp_path, "clean")).read_text()
    assert 'class="banner is-pass"' in html and "clean" in html
    assert "<h2>Invariants</h2>" in html and "lost-write" in html and "<h2>Anomalies</h2>" not in html
    plots = html.count('src="data:image/svg+xml;base64,')
    assert plots == 4, "throughput, latency, consumption and leaders"
    assert "leader 2 → 1 (epoch 3)" in html and "healed kill: started node 2" in html
    assert "hunter2" not in html and "sasl.password: &#39;***&#39;" in html
    assert (tmp_path / "index.html").exists()


@pytest.mark.parametrize("kind", sorted(INJECT))
def test_each_anomaly_kind_gets_a_table_of_examples(tmp_path, kind):
    run_dir = stored_run(tmp_path, kind, inject=kind)
    html = write_report(run_dir).read_text()
    verdict = json.loads((run_dir / "verdict.json").read_text())
    found = verdict["anomalies"]
    assert kind in found, "the injected anomaly was found by the checker"
    assert f"<h3>{kind} ({len(found[kind])}" in html
    first = found[kind][0].get("explanation")
    assert first and first.replace('"', "&#34;").replace("'", "&#39;") in html
    banner = "is-pass" if verdict["verdict"] == "pass" else "is-violation"  # some kinds at-least-once allows
    assert f'class="banner {banner}"' in html


def test_lost_writes_get_a_timeline_of_offsets_around_the_loss(tmp_path):
    html = write_report(stored_run(tmp_path, "lost", inject="lost-write")).read_text()
    assert 'alt="t-0: 1 lost writes"' in html or "lost writes" in html
    assert html.count('src="data:image/svg+xml;base64,') == 5


def test_strings_from_messages_configs_and_logs_are_escaped(tmp_path):
    html = write_report(stored_run(tmp_path, "hostile", inject="phantom")).read_text()
    assert "<script>" not in html and "onerror=alert(1)>" not in html
    assert "&lt;script&gt;alert(&#34;kc&#34;)&lt;/script&gt;" in html  # the description and the fault's text


def test_index_lists_every_run_newest_first(tmp_path):
    stored_run(tmp_path, "older", seed=1)
    write_report(stored_run(tmp_path, "newer", inject="lost-write", seed=2))
    index = (tmp_path / "index.html").read_text()
    assert index.index("newer") < index.index("older")
    assert 'href="newer/report.html"' in index and "violation" in index


@pytest.mark.browser
def test_chromium_renders_the_report_offline_without_errors(tmp_path):
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium package is needed (.ci/run installs it)"
    report = write_report(stored_run(tmp_path, "rendered", inject="lost-write"))
    errors, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.as_uri())
        page.screenshot(path=tmp_path / "report.png", full_page=True)
        banner = page.inner_text(".banner")
        images = page.eval_on_selector_all("img.plot", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")
        browser.close()
    assert errors == []
    assert requests == [report.as_uri()], "nothing but the page itself is fetched"
    assert "VIOLATION" in banner.upper() and "rendered" in banner
    assert images and all(images), "every plot decodes"
    assert (tmp_path / "report.png").stat().st_size > 20_000


def test_report_command_rewrites_a_report_and_refuses_a_non_run(tmp_path):
    run_dir = stored_run(tmp_path, "again")
    done = subprocess.run([sys.executable, "-m", "harness", "report", str(run_dir)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == str(run_dir / "report.html")
    assert (run_dir / "report.html").exists() and (tmp_path / "index.html").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = subprocess.run([sys.executable, "-m", "harness", "report", str(empty)], capture_output=True, text=True)
    assert refused.returncode == 2 and "not a run directory" in refused.stderr and "Traceback" not in refused.stderr
