"""Errors that end a command, each tied to its exit code.

A user mistake (bad flag, bad file) is a UsageError: one line, exit 2, nothing started.
A missing tool, download failure or a cluster that never became ready is an
EnvironmentProblem: one line, exit 3, the system under test was not judged.
"""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    VIOLATION = 1
    USAGE = 2
    ENVIRONMENT = 3
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: faults healed, nothing judged


class KafkaChaosError(Exception):
    """An error with a one-line message meant for the user."""

    exit_code: ExitCode = ExitCode.ENVIRONMENT


class UsageError(KafkaChaosError):
    exit_code = ExitCode.USAGE


class EnvironmentProblem(KafkaChaosError):
    exit_code = ExitCode.ENVIRONMENT
