"""How a run ended (the run record): the checker's verdict, the steady-state checks and the
experiment's expectation folded into one outcome and one exit code, kept in the run directory."""

from __future__ import annotations

import shlex
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field

from harness.checker.model import Verdict
from harness.errors import ExitCode
from harness.files import read_json
from harness.rundir.layout import RunDir


class Outcome(StrEnum):
    PASS = "pass"  # every invariant held
    CAUGHT = "caught-as-expected"  # a known-bad experiment, and the harness caught it
    VIOLATION = "violation"  # an invariant was violated
    NOT_CAUGHT = "not-caught"  # a known-bad experiment that showed no violation
    HARNESS_ERROR = "harness-error"  # the system under test was not judged
    INTERRUPTED = "interrupted"

    @property
    def exit_code(self) -> ExitCode:
        return {Outcome.PASS: ExitCode.OK, Outcome.CAUGHT: ExitCode.OK, Outcome.VIOLATION: ExitCode.VIOLATION,
                Outcome.NOT_CAUGHT: ExitCode.VIOLATION,
                Outcome.INTERRUPTED: ExitCode.INTERRUPTED}.get(self, ExitCode.ENVIRONMENT)


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
    backend: str = "local"
    outcome: Outcome = Outcome.HARNESS_ERROR
    verdict: Verdict | None = None  # the checker's
    failing: list[dict] = Field(default_factory=list)  # {kind or check, count, example}
    steady_state: list[SteadyCheck] = Field(default_factory=list)
    message: str = ""
    started_wall: float = 0.0
    duration_s: float = 0.0
    workers: dict[str, int | None] = Field(default_factory=dict)  # exit code per worker incarnation
    replayed_from: Path | None = None  # the run this one replays
    shrunk_from: Path | None = None  # the failing run a shrink started from
    report: Path | None = Field(None, exclude=True)  # written after run.json

    @property
    def exit_code(self) -> ExitCode:
        return self.outcome.exit_code

    @property
    def met_expectation(self) -> bool:
        return self.outcome in (Outcome.PASS, Outcome.CAUGHT)

    @property
    def replay_command(self) -> str:
        """The exact command that runs this run again: same seed, same planned faults."""
        return f"kafka-chaos replay {shlex.quote(str(self.run_dir))}"

    @property
    def rerun_command(self) -> str:
        """The experiment again with this run's seed (the same plan, drawn again)."""
        return f"kafka-chaos run {shlex.quote(self.source)} --seed {self.seed}"

    def properties(self) -> dict[str, str]:
        """What a CI system shows beside a test: seed, verdict, Kafka version, backend, report."""
        return {"kafka-chaos.seed": str(self.seed), "kafka-chaos.outcome": self.outcome.value,
                "kafka-chaos.verdict": self.verdict.value if self.verdict else "not judged",
                "kafka-chaos.kafka-version": self.kafka_version or "unknown", "kafka-chaos.backend": self.backend,
                "kafka-chaos.run-dir": str(self.run_dir), "kafka-chaos.report": str(RunDir(self.run_dir).report),
                "kafka-chaos.replay": self.replay_command}

    def summary_line(self) -> str:
        failing = ", ".join(f"{f['name']} ({f['count']})" for f in self.failing)
        detail = f": {failing}" if failing else (f": {self.message}" if self.message else "")
        return (f"{self.outcome.value.upper():<18} {self.experiment}{detail}  [{self.run_dir}]\n"
                f"  seed {self.seed} · replay: {self.replay_command}")

    def save(self) -> None:
        RunDir(self.run_dir).record.write_text(self.model_dump_json(indent=2) + "\n")


def load_record(run: RunDir | Path) -> RunRecord | None:
    """The run's record, None when it has none; raises Unreadable or ValidationError when damaged."""
    path = RunDir.of(run).record
    return RunRecord.model_validate(read_json(path)) if path.exists() else None
