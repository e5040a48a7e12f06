"""JUnit XML for CI: one test case per experiment; a failure names each failing invariant or
steady-state check with its count and one example, and the run directory."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.rundir.record import Outcome, RunRecord


def write(records: list[RunRecord], path: Path) -> None:
    failures = sum(r.outcome in (Outcome.VIOLATION, Outcome.NOT_CAUGHT) for r in records)
    errors = sum(r.outcome in (Outcome.HARNESS_ERROR, Outcome.INTERRUPTED) for r in records)
    suite = ET.Element("testsuite", name="kafka-chaos", tests=str(len(records)), failures=str(failures),
                       errors=str(errors), time=f"{sum(r.duration_s for r in records):.1f}")
    for record in records:
        case = ET.SubElement(suite, "testcase", classname=f"experiments.{record.semantics}", name=record.experiment,
                             time=f"{record.duration_s:.1f}")
        properties = ET.SubElement(case, "properties")
        for name, value in record.properties().items():
            ET.SubElement(properties, "property", name=name, value=value)
        if record.outcome in (Outcome.VIOLATION, Outcome.NOT_CAUGHT):
            element = ET.SubElement(case, "failure", message=_message(record), type=record.outcome.value)
            element.text = _details(record)
        elif record.outcome in (Outcome.HARNESS_ERROR, Outcome.INTERRUPTED):
            element = ET.SubElement(case, "error", message=f"{record.outcome.value}: {record.message}",
                                    type=record.outcome.value)
            element.text = f"run directory: {record.run_dir}"
        ET.SubElement(case, "system-out").text = f"{record.outcome.value}; run directory: {record.run_dir}"
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def _message(record: RunRecord) -> str:
    if record.outcome == Outcome.NOT_CAUGHT:
        return f"expected a violation (known-bad configuration), none was found; run directory {record.run_dir}"
    failing = "; ".join(f"{f['name']} x{f['count']}: {f['example']}" for f in record.failing)
    return f"{failing}; run directory {record.run_dir}"


def _details(record: RunRecord) -> str:
    lines = [f"{f['name']} ({f['status']}): {f['count']}, e.g. {f['example']}" for f in record.failing]
    return "\n".join(lines + [f"run directory: {record.run_dir}"])
