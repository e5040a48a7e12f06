"""`kafka-chaos run | replay | shrink`: experiments on a real cluster, each run with its seed and
the command that replays it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli.console import status, table
from harness.errors import ExitCode, UsageError


class Duration(click.ParamType):
    """A time span: 90, 90s, 30m or 2h."""

    name = "duration"
    UNITS = {"s": 1, "m": 60, "h": 3600}

    def convert(self, value, param, ctx) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        text = str(value).strip().lower()
        unit = self.UNITS.get(text[-1:], None)
        try:
            seconds = float(text[:-1] if unit else text) * (unit or 1)
        except ValueError:
            self.fail(f"{value!r} is not a duration (e.g. 90s, 30m, 2h)", param, ctx)
        if not 0 < seconds < 7 * 86400:
            self.fail(f"{value!r} is not a duration between 1 s and a week", param, ctx)
        return seconds


out_option = click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"),
                          show_default=True, help="Where run directories go.")
keep_option = click.option("--keep-cluster", is_flag=True, help="Leave the cluster running afterwards: the next "
                                                                "`run` reuses it, `cluster down` removes it.")
BACKENDS = ("local", "docker")  # harness.cluster.backends.BackendName, without importing it
backend_option = click.option("--backend", type=click.Choice(BACKENDS), default=None,
                              help="Run every experiment on this backend [default: each experiment's cluster.backend].")
attach_option = click.option("--attach", default=None, metavar="PROJECT|LABEL=VALUE",
                             help="Run on a running Kafka cluster started with docker compose (its project name, or "
                                  "a container label), taken over and left as found; implies --backend docker.")
junit_option = click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), default=None,
                            help="Write JUnit XML here (one test case per run, with seed and verdict as properties).")


@click.command("run")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--seed", type=click.IntRange(0), default=None,
              help="The run's seed (repeated runs count up from it) [default: the experiment's, else a fresh one "
                   "per run].")
@click.option("--repeat", type=click.IntRange(1, 10_000), default=1, show_default=True,
              help="Run each experiment this many times (a new seed each unless fixed).")
@click.option("--until-fail", is_flag=True, help="Repeat each experiment until the checker finds a violation.")
@click.option("--max", "max_runs", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="With --until-fail: at most this many runs.")
@click.option("--kafka-version", default=None, help="Override every experiment's Kafka version.")
@backend_option
@attach_option
@click.option("--dry-run", is_flag=True, help="Print, per host, every command the run would run; run nothing.")
@click.option("--yes", is_flag=True, help="Do not ask before acting on hosts outside the lab range 198.18.0.0/15.")
@out_option
@junit_option
@keep_option
def run(files: tuple[Path, ...], seed: int | None, repeat: int, until_fail: bool, max_runs: int,
        kafka_version: str | None, backend: str | None, attach: str | None, dry_run: bool, yes: bool, out: Path,
        junit: Path | None,
        keep_cluster: bool) -> None:
    """Run experiments one after another and print a verdict for each run, with its seed and the
    command that replays it."""
    from harness.api import Session, experiment_from
    from harness.rundir import INDEX_FILE
    from harness.rundir.record import Outcome

    if until_fail and repeat != 1:
        raise UsageError("--until-fail and --repeat exclude each other (--until-fail --max N bounds the runs)")
    from harness.cluster.backends import BackendName

    backend = BackendName(backend) if backend else None
    # all valid, on the backend they will run on, before anything starts
    experiments = [experiment_from(path, backend=backend, attach=attach) for path in files]
    if dry_run:
        from harness.orchestrator.dryrun import dry_run as commands, render

        for experiment, _ in experiments:
            click.echo(render(experiment, commands(experiment, seed)))
        return
    _confirm_hosts([e for e, _ in experiments], yes)
    times = max_runs if until_fail else repeat
    results = []
    with _Progress() as progress, Session(out=out, keep_cluster=keep_cluster, kafka_version=kafka_version,
                                          backend=backend, attach=attach, progress=progress.update) as session:
        try:
            for experiment, source in experiments:
                mine = []
                for result in session.repeat(experiment, times, seed, until_fail=until_fail, source=source):
                    progress.pause()
                    _print_result(result)
                    mine.append(result)
                results += mine
                if times > 1:
                    _print_repeats(experiment.name, mine)
                if mine and mine[-1].outcome == Outcome.INTERRUPTED:
                    break
        finally:
            if junit:
                from harness.report import junit as junit_xml

                junit_xml.write([r.record for r in results], junit)
    if results:
        click.echo(f"all runs: {out / INDEX_FILE}")
    sys.exit(_worst_exit(r.record for r in results))


@click.command("replay")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@out_option
@junit_option
@keep_option
def replay(run_dir: Path, out: Path, junit: Path | None, keep_cluster: bool) -> None:
    """Run a stored run again: the same experiment, seed and planned faults (times, kinds, and the
    nodes they hit; a leader or the controller is found again)."""
    from harness.api import Session

    with _Progress() as progress, Session(out=out, keep_cluster=keep_cluster, progress=progress.update) as session:
        result = session.replay(run_dir)
    progress.pause()
    _print_result(result)
    if junit:
        from harness.report import junit as junit_xml

        junit_xml.write([result.record], junit)
    sys.exit(result.exit_code)


@click.command("shrink")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--budget", type=Duration(), default="30m", show_default=True, help="Stop searching after this long.")
@click.option("--tries", type=click.IntRange(1, 20), default=2, show_default=True,
              help="Runs per candidate: it counts as failing if any of them fails.")
@out_option
def shrink(run_dir: Path, budget: float, tries: int, out: Path) -> None:
    """From a failing run, search for a smaller experiment that still fails the same invariants:
    fewer fault steps, shorter faults and phases, narrower targets, a lower rate. Writes
    RUN_DIR/shrunk.yaml."""
    from harness.api import Session
    from harness.shrink.reductions import size

    def on_step(step, best) -> None:
        verdict = f"fails ({step.tries} {'try' if step.tries == 1 else 'tries'})" if step.failed else \
            f"passes {step.tries}x"
        click.echo(f"  candidate {size(step.candidate)}: {verdict} · best so far: {size(best)}")

    with Session(out=out) as session:  # one cluster for every candidate
        found = session.shrink(run_dir, budget, tries, on_step)
    click.echo(f"shrunk {found.reduction} in {found.seconds:.0f} s and {found.search.runs} runs"
               + (" (budget spent)" if found.search.exhausted else "")
               + (f"; {found.search.stepped_back} smaller candidates failed once but not again"
                  if found.search.stepped_back else ""))
    click.echo(f"  experiment: {found.file}")
    if found.last_failing:
        click.echo(f"  last failing run: {found.last_failing.run_dir}  (report: {found.last_failing.report})")


def _confirm_hosts(experiments, yes: bool) -> None:
    """Ask before acting on hosts outside the lab range (refuse without a terminal to ask on);
    then log in to every ssh host and check it, and to every secured cluster of someone else's, so
    a wrong host, key, unit or password is one line before any run starts."""
    from harness.cluster import ssh_config

    outside = sorted({a for e in experiments if e.cluster.backend == "ssh" for a in ssh_config.outside_lab(e.cluster)})
    if outside and not yes:
        hosts = ", ".join(outside)
        if not sys.stdin.isatty():
            raise UsageError(f"hosts {hosts} are outside the lab range 198.18.0.0/15: pass --yes to act on them")
        if not click.confirm(f"kafka-chaos will kill, pause, cut off and restart the brokers on {hosts} "
                             "(outside the lab range 198.18.0.0/15). Go on?", default=False, err=True):
            raise UsageError("not confirmed: nothing was done")
    from harness.cluster.external import ExternalCluster
    from harness.cluster.ssh import SshCluster

    for experiment in experiments:
        if experiment.cluster.backend == "ssh":
            SshCluster(experiment.cluster).preflight()
        elif experiment.cluster.backend == "external" and experiment.cluster.security:
            ExternalCluster(experiment.cluster).preflight()


def _print_result(result) -> None:
    click.echo(result.record.summary_line())
    if result.report.exists():
        click.echo(f"  report: {result.report}")


def _print_repeats(name: str, results: list) -> None:
    table(f"{name}: {sum(r.passed for r in results)} of {len(results)} runs met the expectation",
          ("run", "seed", "outcome", "verdict", "anomalies", "duration (s)", "met expect"),
          [(i, r.seed, r.outcome.value, r.verdict.value if r.verdict else "-",
            ", ".join(f"{kind} {count}" for kind, count in sorted(r.counts().items())) or "none",
            f"{r.record.duration_s:.0f}", "yes" if r.passed else "NO") for i, r in enumerate(results, start=1)],
          width=160)


def _worst_exit(records) -> int:
    codes = {r.exit_code for r in records}
    for code in (ExitCode.INTERRUPTED, ExitCode.ENVIRONMENT, ExitCode.VIOLATION):
        if code in codes:
            return code
    return ExitCode.OK


class _Progress:
    """The current phase on a terminal; silent when not a TTY or under CI."""

    def __init__(self):
        self.status = status()
        self.running = False

    def __enter__(self) -> "_Progress":
        return self

    def update(self, experiment: str, phase: str) -> None:
        if self.status:
            self.status.update(f"{experiment}: {phase}")
            if not self.running:
                self.status.start()
                self.running = True

    def pause(self) -> None:
        if self.status and self.running:
            self.status.stop()
            self.running = False

    def __exit__(self, *exc) -> None:
        self.pause()
