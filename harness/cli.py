"""The kafka-chaos command line."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import sys
from pathlib import Path

import click
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table

from harness import paths
from harness.clientlog import show_client_logs
from harness.cluster import backends
from harness.cluster.backend import Capability
from harness.cluster.backends import BackendName
from harness.cluster.distribution import DEFAULT_VERSION
from harness.cluster.spec import ClusterSpec, NetworkMode
from harness.errors import ExitCode, KafkaChaosError, UsageError
from harness.rundir import INDEX_FILE, RunDir
from harness.rundir.record import Outcome
from harness.semantics import Semantics



class _Console(Console):
    """rich's Console ends the process with exit 1 when its reader goes away; 1 means a
    violated invariant here, so the broken pipe goes to `main` instead."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


err = _Console(stderr=True, highlight=False, soft_wrap=True)


class _OutputGone(Exception):
    """Our reader went away (`| head`); not an OSError, which click would turn into exit 1."""


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise _OutputGone from exc


@click.group(cls=_Group)
@click.option("-v", "--verbose", is_flag=True, help="Log what the harness does.")
def cli(verbose: bool) -> None:
    """Chaos experiments against real Kafka clusters, judged message by message."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    show_client_logs(verbose)


@cli.group()
def cluster() -> None:
    """Start, inspect and remove a local Kafka cluster."""


name_option = click.option("--name", default="lab", show_default=True, help="Cluster name.")


@cluster.command("up")
@click.option("--nodes", type=click.IntRange(1, 9), default=3, show_default=True,
              help="Brokers (each also a controller unless --controllers is given).")
@click.option("--controllers", type=click.IntRange(0, 5), default=0, show_default=True,
              help="Dedicated KRaft controllers (0: combined broker+controller nodes).")
@click.option("--kafka-version", default=None, help=f"Kafka version [default: KAFKA_HOME's, else {DEFAULT_VERSION}].")
@click.option("--network", type=click.Choice([m.value for m in NetworkMode]), default="auto", show_default=True)
@click.option("--subnet", type=click.IntRange(0, 255), default=0, show_default=True,
              help="Namespace network: nodes live in 198.18.<subnet>.0/24.")
@click.option("--dir", "workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where node configs, data and logs go [default: the state folder].")
@click.option("--disk-mb", type=int, default=None,
              help="Give each node a disk of its own of this size (a tmpfs; the full-disk fault fills it).")
@name_option
def cluster_up(nodes: int, controllers: int, kafka_version: str | None, network: str, subnet: int,
               workdir: Path | None, disk_mb: int | None, name: str) -> None:
    """Start a cluster, wait until it is ready, leave it running and print its bootstrap servers."""
    spec = _spec(name=name, nodes=nodes, controllers=controllers, kafka_version=kafka_version, network=network,
                 subnet=subnet, disk_mb=disk_mb)
    cluster = backends.create(BackendName.LOCAL, spec, workdir or paths.state_dir() / name)
    err.print(f"starting {spec.nodes} node(s) of Kafka {cluster.kafka_version}...")
    cluster.start(owned=False)  # it outlives this command
    if Capability.NETWORK not in cluster.capabilities:
        err.print("note: nodes share loopback (no CAP_NET_ADMIN): network faults are unavailable")
    click.echo(cluster.bootstrap_servers)


@cluster.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@name_option
def cluster_status(as_json: bool, name: str) -> None:
    """Nodes, addresses, pids, alive/paused and the active controller."""
    info = backends.attach(BackendName.LOCAL, name).describe()
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    table = Table(title=f"cluster {info['name']}: Kafka {info['kafka_version']}, {info['network']} network, "
                        f"controller {info['active_controller']}")
    for column in ("node", "roles", "address", "pid", "status"):
        table.add_column(column)
    for node in info["nodes"]:
        table.add_row(str(node["id"]), "+".join(node["roles"]), node["address"], str(node["pid"] or "-"),
                      node["status"])
    _Console().print(table)
    click.echo(f"bootstrap servers: {info['bootstrap_servers']}")


@cluster.command("down")
@click.option("--name", default=None, help="Only this cluster [default: every kafka-chaos cluster].")
def cluster_down(name: str | None) -> None:
    """Stop the cluster and remove its processes, namespaces, bridge and rules (also after a crash)."""
    leftovers = backends.down(name)
    err.print("cluster down" + (f" (also removed: {', '.join(leftovers)})" if leftovers else ""))


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--worker", default=None, help="Only this worker (all its incarnations).")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many lines.")
def history(run_dir: Path, worker: str | None, limit: int | None) -> None:
    """Print a run's history as text, one line per operation, in time order."""
    from itertools import islice

    from harness.history.load import load
    from harness.history.text import timeline

    require_run_dir(run_dir)
    found = load(run_dir)
    for damage in found.damage:
        err.print(f"damaged history: {damage}", markup=False)
    for line in islice(timeline(found, worker), min(limit, sys.maxsize) if limit else None):
        click.echo(line)


def require_run_dir(run_dir: Path) -> None:
    """A directory that is not a run directory is bad input (exit 2), before anything is written
    into it; one that is, however damaged, is judged (its damage makes invariants UNKNOWN)."""
    run = RunDir(run_dir)
    if not run.looks_like_a_run():
        marks = ", ".join(run.relative(p) for p in run.marks())
        raise UsageError(f"{run_dir}: not a run directory (no {marks}, no worker history in "
                         f"{run.relative(run.history)}/)")


@cli.command("check")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the verdict JSON.")
@click.option("--semantics", type=click.Choice([s.value for s in Semantics]), default=None,
              help="Judge against these semantics [default: the run's].")
def check_command(run_dir: Path, as_json: bool, semantics: str | None) -> None:
    """Re-run the checker on a stored run; writes RUN_DIR/verdict.json."""
    from harness.checker import check, write_verdict
    from harness.checker.check import to_json

    require_run_dir(run_dir)
    recorded, problem = run_settings(run_dir)
    if problem and not semantics:
        raise UsageError(f"{problem}: the run's semantics and anomaly policies are unknown (give --semantics to judge "
                         "it against that semantics' default policies)")
    result = check(run_dir, Semantics(semantics) if semantics else recorded.get("semantics"),
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
    from harness.checker.model import AnomalyKind, PolicySetting
    from harness.files import Unreadable, read_json

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
    table = Table(title=f"{result.verdict.value.upper()} ({result.semantics})")
    for column in ("invariant", "status", "count", "policy", "note"):
        table.add_column(column)
    for inv in result.invariants:
        table.add_row(inv.kind.value, inv.status, str(inv.count), inv.policy, inv.note)
    _Console().print(table)
    for kind, found in result.anomalies.items():
        click.echo(f"{kind}: {found[0].get('explanation', found[0])}")
    stats = result.stats
    click.echo(f"sends {stats.get('sends', 0)}: {stats.get('acked', 0)} acked, {stats.get('failed', 0)} failed, "
               f"{stats.get('indeterminate', 0)} indeterminate")
    for error in result.errors:
        err.print(f"checker error: {error}", markup=False)
    for damage in result.damage:
        err.print(f"damaged history: {damage}", markup=False)


def verdict_exit_code(verdict) -> ExitCode:
    from harness.checker.model import Verdict

    return {Verdict.PASS: ExitCode.OK, Verdict.VIOLATION: ExitCode.VIOLATION}.get(verdict, ExitCode.ENVIRONMENT)


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
junit_option = click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), default=None,
                            help="Write JUnit XML here (one test case per run, with seed and verdict as properties).")


@cli.command("run")
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
@out_option
@junit_option
@keep_option
def run_command(files: tuple[Path, ...], seed: int | None, repeat: int, until_fail: bool, max_runs: int,
                kafka_version: str | None, out: Path, junit: Path | None, keep_cluster: bool) -> None:
    """Run experiments one after another and print a verdict for each run, with its seed and the
    command that replays it."""
    from harness.api import Session, load_experiment

    if until_fail and repeat != 1:
        raise UsageError("--until-fail and --repeat exclude each other (--until-fail --max N bounds the runs)")
    experiments = [load_experiment(path) for path in files]  # all valid before anything starts
    times = max_runs if until_fail else repeat
    results = []
    with _Progress() as progress, Session(out=out, keep_cluster=keep_cluster, kafka_version=kafka_version,
                                          progress=progress.update) as session:
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


@cli.command("replay")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@out_option
@junit_option
@keep_option
def replay_command(run_dir: Path, out: Path, junit: Path | None, keep_cluster: bool) -> None:
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


@cli.command("shrink")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--budget", type=Duration(), default="30m", show_default=True, help="Stop searching after this long.")
@click.option("--tries", type=click.IntRange(1, 20), default=2, show_default=True,
              help="Runs per candidate: it counts as failing if any of them fails.")
@out_option
def shrink_command(run_dir: Path, budget: float, tries: int, out: Path) -> None:
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


def _print_result(result) -> None:
    click.echo(result.record.summary_line())
    if result.report.exists():
        click.echo(f"  report: {result.report}")


def _print_repeats(name: str, results: list) -> None:
    table = Table(title=f"{name}: {sum(r.passed for r in results)} of {len(results)} runs met the expectation")
    for column in ("run", "seed", "outcome", "verdict", "anomalies", "duration (s)", "met expect"):
        table.add_column(column)
    for i, r in enumerate(results, start=1):
        found = ", ".join(f"{kind} {count}" for kind, count in sorted(r.counts().items()))
        table.add_row(str(i), str(r.seed), r.outcome.value, r.verdict.value if r.verdict else "-", found or "none",
                      f"{r.record.duration_s:.0f}", "yes" if r.passed else "NO")
    Console(width=160).print(table)


def _worst_exit(records) -> int:
    codes = {r.exit_code for r in records}
    for code in (ExitCode.INTERRUPTED, ExitCode.ENVIRONMENT, ExitCode.VIOLATION):
        if code in codes:
            return code
    return ExitCode.OK


class _Progress:
    """The current phase on a terminal; silent when not a TTY or under CI."""

    def __init__(self):
        console = Console(stderr=True)
        self.status = console.status("") if console.is_terminal and not os.environ.get("CI") else None
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


@cli.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
def report_command(run_dirs: tuple[Path, ...]) -> None:
    """Write (again) the HTML report of stored runs, and their folder's index.html."""
    from harness.report.html import write_report

    for run_dir in run_dirs:
        require_run_dir(run_dir)
    for run_dir in run_dirs:
        click.echo(write_report(run_dir))


@cli.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate_command(files: tuple[Path, ...]) -> None:
    """Check experiment files without running anything."""
    from harness.experiment.loader import load

    failed = False
    for path in files:
        try:
            experiment = load(path, runnable=True)
            click.echo(f"ok  {path}: {experiment.name}")
        except UsageError as exc:
            err.print(f"kafka-chaos: {exc}", markup=False)
            failed = True
    sys.exit(ExitCode.USAGE if failed else ExitCode.OK)


@cli.command("list")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Catalogue folder [default: the project's experiments/].")
def list_command(directory: Path | None) -> None:
    """The experiment catalogue: name, seed scenarios, expected verdict, what it tests."""
    from harness.experiment.catalogue import catalogue

    table = Table(title="kafka-chaos experiments")
    for column in ("experiment", "scenarios", "expect", "what it tests"):
        table.add_column(column)
    for path, experiment in catalogue(directory):
        table.add_row(experiment.name, ", ".join(map(str, experiment.scenarios)), experiment.expect.value,
                      experiment.description.strip().splitlines()[0] if experiment.description else "")
    _Console(width=200).print(table)


@cli.command("schema")
def schema_command() -> None:
    """The JSON Schema of experiment files (for editors)."""
    from harness.experiment.model import Experiment

    click.echo(json.dumps(Experiment.model_json_schema(), indent=2))


def _spec(**fields) -> ClusterSpec:
    try:
        return ClusterSpec(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UsageError(f"invalid cluster {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C, so every cleanup path runs


def main() -> None:
    """Run the command; whatever happens ends in one line and an exit code the README gives: 1
    only ever for a violated invariant, 3 (with the traceback in a log file) for anything
    unexpected."""
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    code = _run()
    sys.exit(_flushed(code))


def _run() -> int:
    try:
        cli(standalone_mode=False)
        return ExitCode.OK
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (ExitCode.OK if exc.code is None else ExitCode.USAGE)
    except (click.exceptions.Abort, KeyboardInterrupt):
        err.print("interrupted")
        return ExitCode.INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE
    except KafkaChaosError as exc:
        err.print(f"kafka-chaos: {exc}", markup=False)
        return exc.exit_code
    except (BrokenPipeError, _OutputGone):
        return _output_gone()
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EIO) and not exc.filename:  # stdout on a full device, most likely
            return _output_failed(exc)
        where = f"{exc.filename}: " if exc.filename else ""
        err.print(f"kafka-chaos: {where}{exc.strerror or exc} (traceback in {_crash_log()})", markup=False)
        return ExitCode.ENVIRONMENT
    except Exception as exc:  # noqa: BLE001  (a harness bug: one line, exit 3, never 1)
        what = str(exc).splitlines()[0][:200] if str(exc) else ""
        err.print(f"kafka-chaos: internal error: {type(exc).__name__}: {what} (traceback in {_crash_log()})",
                  markup=False)
        return ExitCode.ENVIRONMENT


def _flushed(code: int) -> int:
    """Output still buffered reaches stdout now, while a failure can still be reported."""
    try:
        sys.stdout.flush()
    except (BrokenPipeError, _OutputGone):
        return _output_gone()
    except OSError as exc:
        return _output_failed(exc)
    return code


def _output_gone() -> int:
    """The reader of our output went away (`| head`): stop quietly, as if by SIGPIPE."""
    _silence_stdout()
    return 128 + signal.SIGPIPE


def _output_failed(exc: OSError) -> int:
    _silence_stdout()
    err.print(f"kafka-chaos: cannot write the output: {exc.strerror or exc}", markup=False)
    return ExitCode.ENVIRONMENT


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush has nothing left to fail on."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _crash_log() -> Path:
    """Write the traceback being handled to a log file of its own; returns where."""
    import tempfile
    import time
    import traceback

    name = f"crash-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
    for folder in (paths.state_dir() / "crashes", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(f"kafka-chaos {' '.join(sys.argv[1:])}\n{traceback.format_exc()}")
            return path
        except OSError:
            continue
    return Path("(nowhere: no writable folder)")
