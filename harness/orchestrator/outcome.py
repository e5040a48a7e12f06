"""What a run came to: the checker's verdict, the steady-state checks and the experiment's
expectation folded into one outcome and one exit code, saved as `run.json`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field

from harness.errors import ExitCode
from harness.files import read_json

RUN_FILE = "run.json"


class Outcome(StrEnum):
    PASS = "pass"  # every invariant held
    CAUGHT = "caught-as-expected"  # a known-bad experiment, and the harness caught it
    VIOLATION = "violation"  # an invariant was violated
    NOT_CAUGHT = "not-caught"  # a known-bad experiment that showed no violation
    HARNESS_ERROR = "harness-error"  # the system under test was not judged
    INTERRUPTED = "interrupted"

    @property
    def exit_code(self) -> int:
        return {Outcome.PASS: ExitCode.OK, Outcome.CAUGHT: ExitCode.OK, Outcome.VIOLATION: ExitCode.VIOLATION,
                Outcome.NOT_CAUGHT: ExitCode.VIOLATION, Outcome.INTERRUPTED: 130}.get(self, ExitCode.ENVIRONMENT)


class SteadyCheck(BaseModel):
    name: str
    passed: bool
    detail: str


class RunRecord(BaseModel):
    experiment: str
    source: str
    run_dir: Path
    description: str = ""
    scenarios: list[int] = Field(default_factory=list)
    semantics: str
    expect: str
    seed: int
    kafka_version: str | None = None
    outcome: Outcome = Outcome.HARNESS_ERROR
    verdict: str | None = None  # the checker's: pass, violation, unknown
    failing: list[dict] = Field(default_factory=list)  # {kind or check, count, example}
    steady_state: list[SteadyCheck] = Field(default_factory=list)
    message: str = ""
    started_wall: float = 0.0
    duration_s: float = 0.0
    workers: dict[str, int | None] = Field(default_factory=dict)  # exit code per worker incarnation
    report: Path | None = Field(None, exclude=True)  # written after run.json

    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code

    def summary_line(self) -> str:
        failing = ", ".join(f"{f['name']} ({f['count']})" for f in self.failing)
        detail = f": {failing}" if failing else (f": {self.message}" if self.message else "")
        return f"{self.outcome.value.upper():<18} {self.experiment}{detail}  [{self.run_dir}]"

    def save(self) -> None:
        (self.run_dir / RUN_FILE).write_text(self.model_dump_json(indent=2) + "\n")


def load_record(run_dir: Path) -> RunRecord | None:
    """The run's record, None when it has none; raises Unreadable or ValidationError when damaged."""
    path = Path(run_dir) / RUN_FILE
    return RunRecord.model_validate(read_json(path)) if path.exists() else None


def decide(expect_violation: bool, verdict: str, steady: list[SteadyCheck]) -> Outcome:
    """The outcome of a judged run."""
    if verdict == "unknown":
        return Outcome.HARNESS_ERROR
    if expect_violation:  # caught means an invariant the checker judges, not a slow recovery
        return Outcome.CAUGHT if verdict == "violation" else Outcome.NOT_CAUGHT
    violated = verdict == "violation" or any(not c.passed for c in steady)
    return Outcome.VIOLATION if violated else Outcome.PASS
