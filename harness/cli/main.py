"""The kafka-chaos command line: a thin layer over `harness.api`, one module per group of commands.

Only click and the standard library load before a command runs (each command imports what it
needs), so `--help`, `validate`, `list` and `schema` start quickly. Whatever happens ends in one
line and an exit code the README gives: 1 only ever for a violated invariant, 3 (with the
traceback in a log file) for anything unexpected.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import sys
from pathlib import Path

import click

from harness import entry
from harness.cli import cluster, experiments, image, runs, stored
from harness.cli.console import say
from harness.clientlog import show_client_logs
from harness.errors import ExitCode, KafkaChaosError


class _OutputGone(Exception):
    """Our reader went away (`| head`); not an OSError, which click would turn into exit 1."""


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise _OutputGone from exc


@click.group(cls=_Group)
@click.version_option(package_name="kafka-chaos", prog_name="kafka-chaos")
@click.option("-v", "--verbose", is_flag=True, help="Log what the harness does.")
def cli(verbose: bool) -> None:
    """Chaos experiments against real Kafka clusters, judged message by message."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    show_client_logs(verbose)


for command in (runs.run, runs.replay, runs.shrink, stored.check, stored.report, stored.history,
                experiments.validate, experiments.catalogue, experiments.schema, cluster.cluster, image.image):
    cli.add_command(command)


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C, so every cleanup path runs


def main() -> None:
    """Run the command; whatever happens ends in one line and an exit code the README gives: 1
    only ever for a violated invariant, 3 (with the traceback in a log file) for anything
    unexpected."""
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, entry.interrupt)  # even if started with SIGINT ignored
    code = _run()
    sys.exit(_flushed(code))


def _run() -> int:
    try:
        cli(standalone_mode=False)
        return ExitCode.OK
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (ExitCode.OK if exc.code is None else ExitCode.USAGE)
    except (click.exceptions.Abort, KeyboardInterrupt):
        say("interrupted")
        return ExitCode.INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE
    except KafkaChaosError as exc:
        say(f"kafka-chaos: {exc}")
        return exc.exit_code
    except (BrokenPipeError, _OutputGone):
        return _output_gone()
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EIO) and not exc.filename:  # stdout on a full device, most likely
            return _output_failed(exc)
        where = f"{exc.filename}: " if exc.filename else ""
        say(f"kafka-chaos: {where}{exc.strerror or exc} (traceback in {_crash_log()})")
        return ExitCode.ENVIRONMENT
    except Exception as exc:  # noqa: BLE001  (a harness bug: one line, exit 3, never 1)
        if entry.interrupted:  # Ctrl-C, surfacing as whatever it interrupted
            say("interrupted")
            return ExitCode.INTERRUPTED
        what = str(exc).splitlines()[0][:200] if str(exc) else ""
        say(f"kafka-chaos: internal error: {type(exc).__name__}: {what} (traceback in {_crash_log()})")
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
    say(f"kafka-chaos: cannot write the output: {exc.strerror or exc}")
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
    from harness import paths

    for folder in (paths.crash_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(f"kafka-chaos {' '.join(sys.argv[1:])}\n{traceback.format_exc()}")
            return path
        except OSError:
            continue
    return Path("(nowhere: no writable folder)")
