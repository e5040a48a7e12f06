"""Running every registered invariant over a run and folding the results into a verdict."""

from __future__ import annotations

import json
import logging
from concurrent.futures import Executor
from dataclasses import replace
from itertools import repeat
from pathlib import Path

import harness.checker.invariants  # noqa: F401  (registers the checks)
from harness.checker import policy, stats
from harness.checker.context import Context
from harness.checker.evidence import plain
from harness.checker.model import AnomalyKind, CheckResult, Invariant, PolicySetting, Status, Verdict
from harness.checker.registry import CHECKS, EVIDENCE, Finding
from harness.files import write_text
from harness.history.load import Damage, executor
from harness.rundir import RunDir
from harness.semantics import Semantics

log = logging.getLogger(__name__)


def check(run: RunDir | Path, semantics: Semantics | None = None,
          overrides: dict[AnomalyKind, PolicySetting] | None = None) -> CheckResult:
    run = RunDir.of(run)
    ctx = Context.from_run(run, semantics)
    settings = policy.policies(ctx.semantics, overrides)
    with executor(len(ctx.history.sends) + len(ctx.history.reads)) as pool:  # checks are pure; numpy frees the GIL
        summary = pool.submit(stats.summarize, ctx)
        findings, errors = _run_checks(ctx, pool)
        summary = summary.result()
    damage = _damage(ctx.history, run)
    damaged = _unjudgeable(findings, damage)
    invariants, anomalies, worst = [], {}, Status.PASS
    for kind in AnomalyKind:
        finding = findings[kind]
        state = Status.NOT_APPLICABLE if not finding.applicable else policy.status(finding.count, settings[kind])
        toward = state  # what it adds to the verdict
        if kind in damaged:  # a damaged history: unknown whatever was counted on what is left
            state = toward = Status.UNKNOWN
        elif finding.applicable and finding.unknown:  # not fully judged: unknown, unless what was found fails
            state = max(state, Status.UNKNOWN, key=lambda s: s.severity)
            # but a kind allowed whatever its count cannot fail the run, judged or not
            toward = state if policy.can_fail(settings[kind]) else Status.ALLOWED
        worst = max(worst, toward, key=lambda s: s.severity)
        invariants.append(Invariant(kind=kind, status=state, count=finding.count,
                                    policy=policy.describe(settings[kind]), note=finding.note))
        if finding.count:
            anomalies[kind.value] = _evidence(ctx, finding, errors)
    verdict = {Status.FAIL: Verdict.VIOLATION, Status.UNKNOWN: Verdict.UNKNOWN}.get(worst, Verdict.PASS)
    return CheckResult(verdict=verdict, semantics=ctx.semantics.value, invariants=invariants,
                       anomalies=anomalies, stats=summary, errors=errors,
                       damage=[str(d) for d in damage])


def _damage(history, run: RunDir) -> list[Damage]:
    """What of the history is damaged or missing; a history with no worker at all is too."""
    damage = list(history.damage)
    if history.processes.empty and not damage:
        damage.append(Damage(run.relative(run.history), "holds no worker history: nothing to judge", who=True))
    return damage


def _unjudgeable(findings: dict[AnomalyKind, Finding], damage: list[Damage]) -> set[AnomalyKind]:
    """A damaged or missing history makes every invariant it feeds UNKNOWN, naming the files,
    whatever the count on what is left: a cut file must not look like lost writes, nor like
    none. The checker's facts are shared (one reader's read proves a transaction committed for
    every invariant), so that is every invariant that applies, and those that do not too when
    who ran is itself in doubt (a process.json or the manifest is damaged)."""
    if not damage:
        return set()
    shown = "; ".join(map(str, damage[:3])) + (f"; and {len(damage) - 3} more" if len(damage) > 3 else "")
    doubt = any(d.who for d in damage) or not any(f.applicable for f in findings.values())
    damaged = {kind for kind, finding in findings.items() if finding.applicable or doubt}
    for kind in damaged:
        findings[kind] = replace(findings[kind], applicable=True, unknown=True, note=f"damaged history: {shown}")
    return damaged


def _run_checks(ctx: Context, pool: Executor) -> tuple[dict[AnomalyKind, Finding], list[str]]:
    """Every check, side by side; one that raises judges its kinds UNKNOWN, never PASS."""
    ctx.prepare()
    findings: dict[AnomalyKind, Finding] = {}
    errors = []
    for (kinds, run), (result, error) in zip(CHECKS.items(), pool.map(_judge, CHECKS.values(), repeat(ctx))):
        if error is None:
            for finding in [result] if isinstance(result, Finding) else result:
                findings[finding.kind] = finding
        else:
            errors.append(f"{run.__name__}: {error!r}")
            for kind in kinds:
                findings[kind] = Finding(kind, True, unknown=True, note=f"the check failed: {error!r}")
    return findings, errors


def _judge(run, ctx: Context):
    try:
        return run(ctx), None
    except Exception as exc:  # noqa: BLE001  (a broken check must not become a pass)
        log.exception("check %s failed", run.__name__)
        return None, exc


def _evidence(ctx: Context, finding: Finding, errors: list[str]) -> list[dict]:
    try:
        return EVIDENCE[finding.kind](ctx, finding.rows)
    except Exception as exc:  # noqa: BLE001  (evidence is a courtesy; the count stands)
        log.exception("evidence for %s failed", finding.kind)
        errors.append(f"evidence for {finding.kind}: {exc!r}")
        return [{"error": f"no evidence: {exc!r}"}] + plain(finding.rows)


def write_verdict(run: RunDir | Path, result: CheckResult) -> Path:
    path = RunDir.of(run).verdict
    write_text(path, to_json(result))
    return path


def to_json(result: CheckResult) -> str:
    return json.dumps(result.model_dump(mode="json"), indent=1, sort_keys=True) + "\n"
