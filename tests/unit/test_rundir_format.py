"""A run directory written before RunDir, capabilities and history format 2 (by the harness at
commit fa71aa6, on a real cluster: tests/fixtures/run-format-1) still checks to the same verdict
and renders: the on-disk format is a contract, and old runs stay judgeable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from harness.checker.check import check
from harness.report.html import write_report
from harness.rundir import RunDir

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "run-format-1"


# Kinds split or added since the fixture's verdict was written (issue 18): old name -> new names
SPLIT = {"output-not-exactly-once": ("duplicate-output", "lost-output")}
ADDED = {"failed-write-read", "overcounted-state", "undercounted-state",  # kinds newer than the fixture
         "replica-lost-write", "failover-reprocessing", "failover-skip"}


def judged(verdict: dict) -> dict:
    invariants = {}
    for i in verdict["invariants"]:
        for kind in SPLIT.get(i["kind"], (i["kind"],)):
            invariants[kind] = (i["status"], i["count"])
    return {"verdict": verdict["verdict"], "invariants": {k: v for k, v in invariants.items() if k not in ADDED}}


def test_an_old_run_directory_checks_to_the_verdict_it_was_given(tmp_path):
    run = RunDir(shutil.copytree(FIXTURE, tmp_path / "run"))
    stored = json.loads(run.verdict.read_text())
    again = check(run).model_dump(mode="json")
    assert judged(again) == judged(stored)
    assert judged(stored)["invariants"]["lost-processing"] == ("fail", 19)
    assert again["damage"] == [], "an old history has no checksums to break: nothing is called damaged"
    added = {i["kind"]: i["status"] for i in again["invariants"] if i["kind"] in ADDED}
    assert added == {"failed-write-read": "not-applicable",  # no send of it definitely failed
                     "overcounted-state": "not-applicable", "undercounted-state": "not-applicable",  # no streams
                     "replica-lost-write": "not-applicable", "failover-reprocessing": "not-applicable",
                     "failover-skip": "not-applicable"}  # no mirror


def test_an_old_run_directory_renders(tmp_path):
    run = RunDir(shutil.copytree(FIXTURE, tmp_path / "run"))
    page = write_report(run).read_text()
    assert "caught-as-expected" in page and "lost-processing" in page
    assert 'alt="Send throughput"' in page and "fixture-commits-first" in page
