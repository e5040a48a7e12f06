"""The index of a folder of runs (`reports/index.html`): every run with its outcome, date,
experiment and duration, newest first, each linking to its report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from harness.files import Unreadable, read_json, write_text
from harness.rundir import INDEX_FILE, RunDir

_env = Environment(loader=PackageLoader("harness.report"), autoescape=select_autoescape(default=True))


def write_index(folder: Path) -> Path:
    runs = []
    for run in (RunDir(p) for p in Path(folder).iterdir() if p.is_dir()):
        try:
            record = read_json(run.record, 2**20)
        except Unreadable:
            continue  # a damaged run still has its folder; the index lists what it can read
        if not isinstance(record, dict):
            continue
        started = record.get("started_wall")
        started = started if isinstance(started, (int, float)) and 0 < started < 2**33 else 0
        runs.append({"dir": run.name, "experiment": str(record.get("experiment", run.name)),
                     "outcome": str(record.get("outcome", "unknown")), "started": started,
                     "date": datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M:%S") if started else "",
                     "duration_s": duration if isinstance(duration := record.get("duration_s"), (int, float)) else None,
                     "has_report": run.report.exists()})
    runs.sort(key=lambda r: (r["started"], r["dir"]), reverse=True)
    index = Path(folder) / INDEX_FILE
    write_text(index, _env.get_template("index.html.j2").render(runs=runs, report_file=RunDir(folder).report.name))
    return index
