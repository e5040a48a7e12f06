"""A finished run, read back from its directory to be run again: the experiment as it ran, its
seed, the faults it planned and the nodes each one hit, and what the checker found.

`replayable()` is the experiment with its schedule made concrete: the planned faults as a
timeline (times and kinds), each aimed at the nodes it hit where those were picked at random,
so node 2 stays node 2 while "the leader of p0" is found again.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import yaml

from harness.checker.model import Status
from harness.errors import UsageError
from harness.events import read_events
from harness.experiment.model import Experiment
from harness.faults.schedule import Planned, Timeline, plan
from harness.redact import REDACTED, restore, secrets
from harness.rundir import RunDir
from harness.rundir.record import load_record
from harness.shrink.reductions import as_timeline


class Recorded:
    def __init__(self, run: RunDir | Path):
        self.run = RunDir.of(run)
        if not self.run.experiment_json.exists():
            raise UsageError(f"{self.run.experiment_json}: missing: {self.run} is not a run directory")
        try:
            self.saved = json.loads(self.run.experiment_json.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageError(f"{self.run.experiment_json}: cannot read the run's experiment: {exc}") from None
        self.record = load_record(self.run)

    @property
    def source(self) -> str:
        return self.record.source if self.record else str(self.run.experiment_yaml)

    @property
    def resolved(self) -> dict:
        return self.saved.get("resolved", {})

    @property
    def seed(self) -> int:
        return int(self.resolved.get("seed", 0))

    @cached_property
    def experiment(self) -> Experiment:
        """The experiment as it ran, its redacted secrets taken back from its file if still there."""
        data = {k: v for k, v in self.saved.items() if k != "resolved"}
        if REDACTED in json.dumps(data):
            original = Path(self.source)
            if original.is_file():
                data = restore(data, secrets(yaml.safe_load(original.read_text())))
        try:
            return Experiment.model_validate(data)
        except ValueError as exc:
            raise UsageError(f"{self.run.experiment_json}: the recorded experiment is not valid now: {exc}") from None

    @cached_property
    def planned(self) -> list[Planned]:
        """The faults the run planned (logical names), in plan order."""
        if "plan" not in self.resolved:  # a run from before plans were recorded: plan it again
            exp = self.experiment
            return plan(exp.faults, self.seed, exp.phases.faults_s) if exp.faults else []
        steps = {"kind": "timeline", "steps": [{"at": p["start"], "fault": p["fault"]} for p in self.resolved["plan"]]}
        faults = Timeline.model_validate(steps).steps if steps["steps"] else []
        return [Planned(p["index"], p["start"], p["end"], step.fault) for p, step in zip(self.resolved["plan"], faults)]

    @cached_property
    def hit(self) -> dict[int, list[int]]:
        """The nodes each fault (by plan index) hit when it was injected."""
        return {e["index"]: [t for t in e.get("targets", []) if isinstance(t, int)]
                for e in read_events(self.run) if e.get("source") == "fault" and e.get("kind") == "inject"}

    def replayable(self) -> Experiment:
        pinned = [Planned(p.index, p.start, p.end, p.fault.pinned(self.hit.get(p.index, []))) for p in self.planned]
        return as_timeline(self.experiment, pinned)

    def failing_kinds(self) -> set[str]:
        """The anomaly kinds the checker failed the run on."""
        try:
            verdict = json.loads(self.run.verdict.read_text())
        except (OSError, json.JSONDecodeError):
            return set()
        return {i["kind"] for i in verdict.get("invariants", []) if i.get("status") == Status.FAIL}
