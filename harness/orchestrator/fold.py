"""The verdict fold: the checker's result, the steady-state checks and the experiment's `expect`
make one outcome (and one exit code) in the run record."""

from __future__ import annotations

from harness.checker.model import CheckResult, Invariant, Policy, Status, Verdict
from harness.rundir.record import Outcome, RunRecord, SteadyCheck


def decide(expect_violation: bool, verdict: Verdict, steady: list[SteadyCheck]) -> Outcome:
    """The outcome of a judged run."""
    if verdict == Verdict.UNKNOWN:
        return Outcome.HARNESS_ERROR
    if expect_violation:  # caught means an invariant the checker judges, not a slow recovery
        return Outcome.CAUGHT if verdict == Verdict.VIOLATION else Outcome.NOT_CAUGHT
    violated = verdict == Verdict.VIOLATION or any(not c.passed for c in steady)
    return Outcome.VIOLATION if violated else Outcome.PASS


def fold(record: RunRecord, result: CheckResult, checks: list[SteadyCheck], expect_violation: bool) -> None:
    """Write the judged run's verdict, failures and outcome into `record`."""
    record.steady_state = checks
    record.verdict = result.verdict
    record.failing = [
        {"name": i.kind.value, "count": i.count, "status": i.status,
         "example": (result.anomalies.get(i.kind.value) or [{}])[0].get("explanation", i.note)}
        for i in result.invariants if i.status == Status.FAIL or _undecided(i)
    ] + [{"name": c.name, "count": 1, "status": Status.FAIL, "example": c.detail} for c in checks if not c.passed]
    record.outcome = decide(expect_violation, result.verdict, checks)
    if result.verdict == Verdict.UNKNOWN:
        record.message = "the checker could not judge the run: " + "; ".join(
            f"{i.kind.value}: {i.note}" for i in result.invariants if _undecided(i))


def _undecided(invariant: Invariant) -> bool:
    """Unknown, of a kind some count would fail (an allowed kind's unknown count changes nothing)."""
    return invariant.status == Status.UNKNOWN and invariant.policy != Policy.ALLOWED
