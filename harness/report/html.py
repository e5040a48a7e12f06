"""The HTML report of one run, from its run directory alone: `report.html`, one self-contained
page (inline CSS, plots as embedded SVG, no script, nothing from the network). Every string
that came from messages, configs or logs goes through Jinja2's autoescaping."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from jinja2 import Environment, PackageLoader, select_autoescape

from harness.checker.context import run_start
from harness.checker.model import DESCRIPTIONS, CheckResult
from harness.checker.stats import sends_per_second
from harness.events import read_events
from harness.files import Unreadable, read_json, write_text
from harness.history.load import History, load_history
from harness.observe.sample import read_samples
from harness.redact import redact
from harness.report import plots
from harness.report.index import write_index
from harness.rundir import INDEX_FILE, RunDir
from harness.rundir.record import load_record

log = logging.getLogger(__name__)
EXAMPLES_PER_KIND = 20
MAX_EVENT_ROWS = 2_000  # the event log table shows this many; events.jsonl has them all
LOST_WRITE_PLOTS = 4
AROUND_LOSS_S = 5.0

_env = Environment(loader=PackageLoader("harness.report"), autoescape=select_autoescape(default=True),
                   trim_blocks=True, lstrip_blocks=True)


@dataclass
class Example:
    explanation: str
    details: list[tuple[str, object]] = field(default_factory=list)


def write_report(run: RunDir | Path) -> Path:
    """Render the run's report and refresh its folder's index; returns the report's path."""
    run = RunDir.of(run)
    facts = collect(run)
    try:
        page = _env.get_template("report.html.j2").render(**facts)
    except Exception as exc:  # noqa: BLE001  (a verdict.json of a strange shape: the page without it)
        log.warning("report: the verdict of %s left out: %s", run, exc)
        page = _env.get_template("report.html.j2").render(**facts | {"verdict": None, "stats": None, "examples": {}})
    write_text(run.report, page)
    write_index(run.path.parent)
    return run.report


def collect(run: RunDir) -> dict:
    """What the page shows. Every file is read defensively: a damaged one is left out of the page
    (and logged), never a reason for no report."""
    record = _guarded(lambda: load_record(run), run.relative(run.record))
    verdict = _guarded(lambda: _verdict(run), run.relative(run.verdict))
    experiment = _json(run.experiment_json) or {}
    events = read_events(run)
    history = _history(run)
    t0 = run_start(history, events) if history else (events[0]["mono"] if events else 0)
    windows = fault_windows(events, t0)
    anomalies = (verdict or {}).get("anomalies", {})
    name = record.experiment if record else experiment.get("name", run.name)
    return {
        "name": name if isinstance(name, str) else run.name,
        "record": record, "verdict": verdict, "stats": (verdict or {}).get("stats"),
        "outcome": record.outcome.value if record else "unfinished",
        "started": _date(record.started_wall) if record else "",
        "experiment_yaml": _guarded(lambda: yaml.safe_dump(redact(experiment), sort_keys=False),
                                    run.relative(run.experiment_json)) or "",
        "plots": (_guarded(lambda: _plots(run, history, t0, windows), "plots") or []) if history else [],
        "examples": {kind: [example(e) for e in found[:EXAMPLES_PER_KIND]] for kind, found in anomalies.items()},
        "loss_plots": (_guarded(lambda: _loss_plots(history, anomalies.get("lost-write", []), t0, windows),
                                "lost-write plots") or []) if history else [],
        "events": [{"at": round((e["mono"] - t0) / 1e9, 2), "source": str(e.get("source", "")),
                    "kind": str(e.get("kind", "")), "text": str(e.get("text", ""))} for e in events[:MAX_EVENT_ROWS]],
        "events_left_out": max(0, len(events) - MAX_EVENT_ROWS),
        "links": _links(run),
        "descriptions": {kind.value: text for kind, text in DESCRIPTIONS.items()},
        "index_href": f"../{INDEX_FILE}",
        "original_href": _href(run, record.shrunk_from) if record else None,
        "replayed_href": _href(run, record.replayed_from) if record else None,
    }


def _guarded(make, what: str):
    """A part of the page from files that may be damaged: None (and a log line) if it fails."""
    try:
        return make()
    except Exception as exc:  # noqa: BLE001  (a damaged file leaves its part out, not the page)
        log.warning("report: %s left out: %s", what, exc)
        return None


def _verdict(run: RunDir) -> dict | None:
    data = _json(run.verdict)
    return CheckResult.model_validate(data).model_dump(mode="json") if data is not None else None


def fault_windows(events: list[dict], t0: int) -> list[plots.Window]:
    """Each injected fault from inject to heal (or to the end of the log when never healed)."""
    end = events[-1]["mono"] if events else t0
    faults = [e for e in events if e.get("source") == "fault" and type(e.get("index")) in (int, str, type(None))]
    heals = {e.get("index"): e["mono"] for e in faults if e.get("kind") == "heal"}
    return [plots.Window((e["mono"] - t0) / 1e9, (heals.get(e.get("index"), end) - t0) / 1e9,
                         str(e.get("text", "fault")), str(e.get("fault", ""))) for e in faults if e.get("kind") == "inject"]


def example(anomaly: dict) -> Example:
    details = [(k, v) for k, v in anomaly.items() if k != "explanation"]
    return Example(anomaly.get("explanation") or ", ".join(f"{k}={v}" for k, v in details[:6]), details)


def _plots(run: RunDir, history: History, t0: int, windows) -> list[tuple[str, str]]:
    sends, samples = history.sends, read_samples(run)
    found = [("Send throughput", plots.send_throughput(sends_per_second(sends, t0), windows)),
             ("Send latency", plots.send_latency(sends, t0, windows))]
    reads, lag = _reads_per_second(history, t0), _lag(samples, t0)
    if reads or len(lag):
        found.append(("Consumption and lag", plots.consumption(reads, lag, windows)))
    leaders = _leaders(samples, t0)
    if len(leaders):
        found.append(("Leaders and ISR", plots.leadership(leaders, windows)))
    return found


def _reads_per_second(history: History, t0: int) -> dict[str, np.ndarray]:
    processes = history.processes
    processors = processes.loc[processes["kind"].isin(["consumer", "transformer", "sink"]), "worker"]
    reads = history.reads[history.reads["worker"].isin(set(processors))]  # not the final readers
    if reads.empty:
        return {}
    second = ((reads["mono"] - t0) // 10**9).astype(int)
    length = int(second.max()) + 1
    return {worker: np.bincount(second[reads["worker"] == worker], minlength=length)
            for worker in sorted(reads["worker"].unique())}


def _lag(samples, t0: int) -> pd.DataFrame:
    rows = [{"at": (s.mono - t0) / 1e9, "group": g.group, "lag": sum(lag for *_, lag in g.lag)}
            for s in samples for g in s.groups if g.lag]  # no lag known is not a lag of 0
    return pd.DataFrame(rows, columns=["at", "group", "lag"])


def _leaders(samples, t0: int) -> pd.DataFrame:
    rows = [{"at": (s.mono - t0) / 1e9, "name": f"{p.topic}-{p.partition}", "leader": p.leader,
             "short": len(p.isr) < len(p.replicas)}
            for s in samples if s.partitions for p in s.partitions]
    return pd.DataFrame(rows, columns=["at", "name", "leader", "short"])


def _loss_plots(history: History, lost: list[dict], t0: int, windows) -> list[tuple[str, str]]:
    """Per partition with lost writes (the first few): acked offsets over time around the losses."""
    where = pd.DataFrame([{"topic": e.get("topic"), "partition": e.get("acked_partition", e.get("partition")),
                           "offset": e.get("acked_offset", e.get("offset"))} for e in lost])
    if where.empty:
        return []
    acked = history.sends[history.sends["outcome"] == "ok"].assign(at=lambda s: (s["complete_mono"] - t0) / 1e9)
    ends = history.events[history.events["kind"] == "end"]
    found = []
    for (topic, partition), losses in list(where.groupby(["topic", "partition"]))[:LOST_WRITE_PLOTS]:
        ours = acked[(acked["topic"] == topic) & (acked["partition"] == partition)]
        span = ours.loc[ours["offset"].isin(losses["offset"]), "at"]
        near = ours[ours["at"].between(span.min() - AROUND_LOSS_S, span.max() + AROUND_LOSS_S)]
        in_loss = near["offset"].isin(losses["offset"])
        proven = ends.loc[(ends["topic"] == topic) & (ends["partition"] == partition), "offset"]
        title = f"{topic}-{partition}: {len(losses)} lost writes"
        found.append((title, plots.offsets_around(near[~in_loss], near[in_loss], title,
                                                  int(proven.max()) if len(proven) else None, windows)))
    return found


def _links(run: RunDir) -> list[tuple[str, str]]:
    """(label, path relative to the report) of every artefact worth opening."""
    def relative(path: Path) -> str:
        return path.relative_to(run.path).as_posix()

    wanted = [run.record, run.verdict, run.events, run.experiment_yaml, run.samples]
    found = [(relative(p), relative(p)) for p in wanted if p.exists()]
    logs = sorted(run.broker_logs.glob("*.log")) if run.broker_logs.is_dir() else []
    found += [(f"broker log {p.stem}", relative(p)) for p in logs]
    found += [(f"history {w.path.name}", relative(w.path) + "/") for w in run.workers()]
    return found


def _href(run: RunDir, other: Path | None) -> str | None:
    """A link from this run's report to another run's, relative when they share a folder."""
    if other is None:
        return None
    report = RunDir(other).report
    return os.path.relpath(report, run.path) if report.is_absolute() == run.path.is_absolute() else str(report)


def _history(run: RunDir) -> History | None:
    try:
        return load_history(run)
    except Exception as exc:  # noqa: BLE001  (a run cut short still gets a report of what it has)
        log.warning("no history to plot in %s: %r", run, exc)
        return None


def _json(path: Path) -> dict | None:
    """A JSON object from the run directory; None (and a log line) when missing or damaged."""
    try:
        data = read_json(path) if path.exists() else None
    except Unreadable as exc:
        log.warning("report: %s", exc)
        return None
    return data if isinstance(data, dict) else None


def _date(wall: float) -> str:
    try:
        return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if wall else ""
    except (OverflowError, OSError, ValueError):
        return ""
