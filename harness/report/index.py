"""The index of a folder of runs (`reports/index.html`): every run with its outcome, date,
experiment and duration, newest first, each linking to its report."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from harness.rundir import INDEX_FILE, RunDir

_env = Environment(loader=PackageLoader("harness.report"), autoescape=select_autoescape(default=True))


def write_index(folder: Path) -> Path:
    runs = []
    for run in (RunDir(p) for p in Path(folder).iterdir() if p.is_dir()):
        try:
            record = json.loads(run.record.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        started = record.get("started_wall") or 0
        runs.append({"dir": run.name, "experiment": record.get("experiment", run.name),
                     "outcome": record.get("outcome", "unknown"), "started": started,
                     "date": datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M:%S") if started else "",
                     "duration_s": record.get("duration_s"),
                     "has_report": run.report.exists()})
    runs.sort(key=lambda r: (r["started"], r["dir"]), reverse=True)
    index = Path(folder) / INDEX_FILE
    index.write_text(_env.get_template("index.html.j2").render(runs=runs, report_file=RunDir(folder).report.name))
    return index
