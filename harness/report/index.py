"""`reports/index.html`: every run in the folder with its outcome, date, experiment and
duration, newest first, each linking to its report."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

INDEX_FILE = "index.html"
_env = Environment(loader=PackageLoader("harness.report"), autoescape=select_autoescape(default=True))


def write_index(folder: Path) -> Path:
    runs = []
    for path in Path(folder).glob("*/run.json"):
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        started = record.get("started_wall") or 0
        runs.append({"dir": path.parent.name, "experiment": record.get("experiment", path.parent.name),
                     "outcome": record.get("outcome", "unknown"), "started": started,
                     "date": datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M:%S") if started else "",
                     "duration_s": record.get("duration_s"),
                     "has_report": (path.parent / "report.html").exists()})
    runs.sort(key=lambda r: (r["started"], r["dir"]), reverse=True)
    index = Path(folder) / INDEX_FILE
    index.write_text(_env.get_template("index.html.j2").render(runs=runs))
    return index
