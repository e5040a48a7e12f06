"""Running system commands: always as argument lists, never through a shell."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from harness.errors import EnvironmentProblem


def run(args: Sequence[str], *, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run `args`; with `check`, a failure becomes one line naming the command and its error."""
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise EnvironmentProblem(f"`{' '.join(args)}` failed: {detail[-1] if detail else result.returncode}")
    return result


def quietly(args: Sequence[str]) -> bool:
    """Best-effort run for cleanup paths: True when it succeeded, never raises."""
    try:
        return run(args, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
