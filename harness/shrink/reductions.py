"""Smaller versions of a failing experiment, boldest first: fewer fault steps (delta debugging:
halves, then quarters, down to single steps), shorter fault durations and phases, narrower
targets, a lower rate. Each is a valid experiment (re-validated; an invalid one is skipped).

The experiment's faults must be a timeline: a nemesis is first turned into the timeline it
planned (`as_timeline`), so what is shrunk is what ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import ValidationError

from harness.experiment.model import Experiment
from harness.faults.schedule import Planned, Timeline
from harness.faults.targets import Target

MIN_DURATION_S = 1.0
MIN_PHASE_S = 2.0
MIN_RATE = 20.0


def as_timeline(experiment: Experiment, planned: list[Planned]) -> Experiment:
    """The experiment with its schedule replaced by the faults it planned, as a timeline."""
    steps = [{"at": p.start, "duration": round(max(p.end - p.start, 0.001), 3),
              "fault": p.fault.model_dump(mode="json", exclude_unset=True)} for p in planned]
    faults = {"kind": "timeline", "steps": steps} if steps else None
    return Experiment.model_validate({**_dump(experiment), "faults": faults})


@dataclass(frozen=True)
class Size:
    faults: int
    seconds: float  # steady + faults + recovery
    rate: float  # sends per second, all producers (0: unlimited)

    def __str__(self) -> str:
        return f"{self.faults} fault{'s' if self.faults != 1 else ''}, {self.seconds:g} s"


def size(experiment: Experiment) -> Size:
    phases = experiment.phases
    steps = experiment.faults.steps if isinstance(experiment.faults, Timeline) else []
    rate = sum(p.rate or 0 for p in experiment.workload.producers)
    return Size(len(steps), phases.steady_s + phases.faults_s + phases.recovery_s, rate)


def smaller(experiment: Experiment) -> Iterator[Experiment]:
    """Every reduction of `experiment`, boldest first."""
    data = _dump(experiment)
    for changed in (*_fewer_steps(data), *_shorter(experiment, data), *_narrower(data), *_slower(data)):
        try:
            yield Experiment.model_validate(changed)
        except ValidationError:
            continue


def _dump(experiment: Experiment) -> dict:
    return experiment.model_dump(mode="json", exclude_unset=True)


def _steps(data: dict) -> list[dict]:
    faults = data.get("faults") or {}
    return faults.get("steps", []) if faults.get("kind") == "timeline" else []


def _with_steps(data: dict, steps: list[dict]) -> dict:
    return {**data, "faults": {"kind": "timeline", "steps": steps} if steps else None}


def _fewer_steps(data: dict) -> Iterator[dict]:
    """Delta debugging's complements: drop half the steps, then a quarter, ... then one."""
    steps = _steps(data)
    chunks = 2
    while steps and chunks <= 2 * len(steps):
        size = -(-len(steps) // chunks)
        for start in range(0, len(steps), size):
            yield _with_steps(data, steps[:start] + steps[start + size:])
        if size == 1:
            break
        chunks *= 2


def _shorter(experiment: Experiment, data: dict) -> Iterator[dict]:
    """Halve each step's duration; end the fault phase with its last heal; halve the other phases."""
    steps = _steps(data)
    phases = experiment.phases.model_dump()
    faults_s = phases["faults_s"]
    for i, step in enumerate(steps):
        duration = step.get("duration") or faults_s - step["at"]
        if duration / 2 >= MIN_DURATION_S:
            yield _with_steps(data, [*steps[:i], {**step, "duration": round(duration / 2, 3)}, *steps[i + 1:]])
        if step["at"] >= 2 * MIN_DURATION_S:  # earlier: less load before it
            yield _with_steps(data, [*steps[:i], {**step, "at": round(step["at"] / 2, 3)}, *steps[i + 1:]])
    last_heal = max((s["at"] + (s.get("duration") or faults_s - s["at"]) for s in steps), default=0)
    if last_heal + 1 < faults_s:
        yield {**data, "phases": {**phases, "faults_s": round(last_heal + 1, 3)}}
    for phase in ("steady_s", "recovery_s"):
        value = phases[phase]
        if value / 2 >= MIN_PHASE_S:
            yield {**data, "phases": {**phases, phase: round(value / 2, 3)}}


NARROWER = {"all": "majority", "majority": "minority"}


def _narrower(data: dict) -> Iterator[dict]:
    """A fault on fewer nodes: all -> majority -> minority, a list of nodes less one."""
    steps = _steps(data)
    for i, step in enumerate(steps):
        target = step["fault"].get("target")
        for narrower in _narrower_targets(target):
            fault = {**step["fault"], "target": narrower}
            yield _with_steps(data, [*steps[:i], {**step, "fault": fault}, *steps[i + 1:]])


def _narrower_targets(target) -> list:
    if isinstance(target, str) and target in NARROWER:
        return [NARROWER[target]]
    if isinstance(target, dict) and target.get("pick") in NARROWER:
        return [NARROWER[target["pick"]]]
    nodes = target if isinstance(target, list) else (target or {}).get("nodes") if isinstance(target, dict) else None
    if nodes and len(nodes) > 1:
        return [Target.of([n for n in nodes if n != drop]).model_dump(exclude_none=True) for drop in nodes]
    return []


def _slower(data: dict) -> Iterator[dict]:
    """Each producer at half its rate (an unlimited one is left as it is)."""
    producers = data.get("workload", {}).get("producers", [])
    for i, producer in enumerate(producers):
        rate = producer.get("rate")
        if rate and rate / 2 >= MIN_RATE:
            changed = [*producers[:i], {**producer, "rate": rate / 2}, *producers[i + 1:]]
            yield {**data, "workload": {**data["workload"], "producers": changed}}
