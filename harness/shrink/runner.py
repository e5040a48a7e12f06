"""Shrinking a failing run on a real cluster: its experiment, made concrete (`Recorded`), is
searched for a smaller one that still fails the same invariants; every candidate is a real run
(its own run directory, which links back to the original)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from harness.checker.model import Status
from harness.errors import UsageError
from harness.experiment.model import Experiment
from harness.orchestrator.recorded import Recorded
from harness.rundir import RunDir
from harness.rundir.record import Outcome
from harness.shrink.reductions import size, smaller
from harness.shrink.search import Shrunk, search

if TYPE_CHECKING:
    from harness.api import Result, Session


@dataclass
class ShrinkOutcome:
    original: Experiment
    search: Shrunk[Experiment]
    file: Path  # the shrunk experiment
    last_failing: "Result | None"  # the run directory of the last candidate that failed
    seconds: float

    @property
    def best(self) -> Experiment:
        return self.search.best

    @property
    def reduction(self) -> str:
        return f"{size(self.original)} → {size(self.best)}"


def shrink(session: "Session", run_dir: Path, budget_s: float, tries: int, on_step=None) -> ShrinkOutcome:
    started = time.monotonic()
    recorded = Recorded(run_dir)
    failing = recorded.failing_kinds()
    if not failing:
        raise UsageError(f"{RunDir(run_dir).verdict}: the run failed no invariant, so there is nothing to shrink")
    start = recorded.replayable()
    last: list[Result] = []

    def fails(candidate: Experiment) -> bool:
        result = session.run(candidate, recorded.seed, source=recorded.source, shrunk_from=Path(run_dir))
        if result.outcome == Outcome.INTERRUPTED:
            raise KeyboardInterrupt
        failed = failing <= {kind for kind, status in result.invariants.items() if status == Status.FAIL}
        if failed:
            last.append(result)
        return failed

    found = search(start, smaller, fails, tries, budget_s, on_step or (lambda step, best: None))
    file = RunDir(run_dir).shrunk
    header = f"# shrunk from {run_dir} ({size(start)} → {size(found.best)}); it still fails {', '.join(sorted(failing))}\n"
    file.write_text(header + yaml.safe_dump(found.best.model_dump(mode="json", exclude_unset=True), sort_keys=False))
    return ShrinkOutcome(start, found, file, last[-1] if last else None, round(time.monotonic() - started, 1))
