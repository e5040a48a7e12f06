"""`kafka-chaos check | report | history`: stored runs, judged and shown again without a cluster."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli.console import say, table
from harness.errors import ExitCode, UsageError
from harness.semantics import Semantics

run_dir_argument = click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))


def require_run_dir(run_dir: Path) -> None:
    """A directory that is not a run directory is bad input (exit 2), before anything is written
    into it; one that is, however damaged, is judged (its damage makes invariants UNKNOWN)."""
    from harness.rundir import RunDir

    run = RunDir(run_dir)
    if not run.looks_like_a_run():
        marks = ", ".join(run.relative(p) for p in run.marks())
        raise UsageError(f"{run_dir}: not a run directory (no {marks}, no worker history in "
                         f"{run.relative(run.history)}/)")


@click.command("check")
@run_dir_argument
@click.option("--json", "as_json", is_flag=True, help="Print the verdict JSON.")
@click.option("--semantics", type=click.Choice([s.value for s in Semantics]), default=None,
              help="Judge against these semantics [default: the run's].")
def check(run_dir: Path, as_json: bool, semantics: str | None) -> None:
    """Re-run the checker on a stored run; writes RUN_DIR/verdict.json."""
    from harness.checker.check import check as judge
    from harness.checker.check import to_json, write_verdict

    require_run_dir(run_dir)
    recorded, problem = run_settings(run_dir)
    if problem and not semantics:
        raise UsageError(f"{problem}: the run's semantics and anomaly policies are unknown (give --semantics to judge "
                         "it against that semantics' default policies)")
    result = judge(run_dir, Semantics(semantics) if semantics else recorded.get("semantics"),
                   recorded.get("anomalies"))
    if problem:
        result.errors.append(f"{problem}: judged with the default policies of {semantics}")
    write_verdict(run_dir, result)
    if as_json:
        click.echo(to_json(result), nl=False)
    else:
        print_verdict(result)
    sys.exit(verdict_exit_code(result.verdict))


def run_settings(run_dir: Path) -> tuple[dict, str | None]:
    """The semantics and anomaly overrides the run's experiment asked for, if it had one, and
    what is wrong with its experiment.json if it cannot be read."""
    from pydantic import BaseModel, ValidationError

    from harness.checker.model import AnomalyKind, PolicySetting
    from harness.files import Unreadable, read_json
    from harness.rundir import RunDir

    class Recorded(BaseModel):
        semantics: Semantics
        anomalies: dict[AnomalyKind, PolicySetting] | None = None

    path = RunDir(run_dir).experiment_json
    if not path.exists() and not path.is_symlink():
        return {}, None
    try:
        recorded = Recorded.model_validate(read_json(path))
    except Unreadable as exc:
        return {}, str(exc)
    except ValidationError as exc:
        first = exc.errors()[0]
        return {}, f"{path}: {'.'.join(map(str, first['loc'])) or 'top level'}: {first['msg']}"
    return {"semantics": recorded.semantics, "anomalies": recorded.anomalies or {}}, None


def print_verdict(result) -> None:
    table(f"{result.verdict.value.upper()} ({result.semantics})", ("invariant", "status", "count", "policy", "note"),
          [(i.kind.value, i.status.value, i.count, i.policy, i.note) for i in result.invariants])
    for kind, found in result.anomalies.items():
        click.echo(f"{kind}: {found[0].get('explanation', found[0])}")
    stats = result.stats
    click.echo(f"sends {stats.get('sends', 0)}: {stats.get('acked', 0)} acked, {stats.get('failed', 0)} failed, "
               f"{stats.get('indeterminate', 0)} indeterminate")
    for error in result.errors:
        say(f"checker error: {error}")
    for damage in result.damage:
        say(f"damaged history: {damage}")


def verdict_exit_code(verdict) -> ExitCode:
    from harness.checker.model import Verdict

    return {Verdict.PASS: ExitCode.OK, Verdict.VIOLATION: ExitCode.VIOLATION}.get(verdict, ExitCode.ENVIRONMENT)


@click.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
def report(run_dirs: tuple[Path, ...]) -> None:
    """Write (again) the HTML report of stored runs, and their folder's index.html."""
    from harness.report.html import write_report

    for run_dir in run_dirs:
        require_run_dir(run_dir)
    for run_dir in run_dirs:
        click.echo(write_report(run_dir))


@click.command("history")
@run_dir_argument
@click.option("--worker", default=None, help="Only this worker (all its incarnations).")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many lines.")
def history(run_dir: Path, worker: str | None, limit: int | None) -> None:
    """Print a run's history as text, one line per operation, in time order."""
    from itertools import islice

    from harness.history.load import load_history
    from harness.history.text import timeline

    require_run_dir(run_dir)
    found = load_history(run_dir)
    for damage in found.damage:
        say(f"damaged history: {damage}")
    for line in islice(timeline(found, worker), min(limit, sys.maxsize) if limit else None):
        click.echo(line)
