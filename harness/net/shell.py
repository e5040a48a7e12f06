"""Where system commands run: this machine, a broker host over SSH (harness.net.ssh), or nowhere
at all for a dry run, which only writes each command down. Commands are argument lists always."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from harness.net.command import quietly, run


class Shell(Protocol):
    where: str  # "" for this machine, else the host's address

    def run(self, args: Sequence[str], *, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run `args`; with `check`, a failure becomes one line naming the host, command and error."""

    def quietly(self, args: Sequence[str]) -> bool:
        """Best-effort, for cleanup: True when it succeeded, never raises."""


class LocalShell:
    where = ""

    def run(self, args: Sequence[str], *, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return run(args, check=check, timeout=timeout)

    def quietly(self, args: Sequence[str]) -> bool:
        return quietly(args)


LOCAL = LocalShell()


@dataclass
class Recorder:
    """A dry run's shell: every command is written down, nothing runs; each answers `reply`."""

    where: str
    commands: list[str] = field(default_factory=list)
    reply: str = ""

    def run(self, args: Sequence[str], *, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        import shlex

        self.commands.append(shlex.join(args))
        return subprocess.CompletedProcess(list(args), 0, self.reply, "")

    def quietly(self, args: Sequence[str]) -> bool:
        self.run(args)
        return True

    def note(self, text: str) -> None:
        self.commands.append(f"# {text}")
