"""Client faults: crash, stop or freeze a producer, consumer or transformer worker.

Each can wait for a `window` (harness.workload.windows) so it lands when the worker holds
something: a consumer with committed-but-unprocessed records, or processed-but-uncommitted ones,
or a worker with a transaction open. The worker is frozen (SIGSTOP) while its history is read a
last time, so it cannot leave the window between the look and the fault.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from harness.faults.base import Env, FaultError, FaultSpec, Injected, fault
from harness.process import ProcessState
from harness.workload.windows import Window

if TYPE_CHECKING:
    from harness.workload.launcher import WorkerProcess

WINDOW_WAIT_S = 30.0
LOOK_EVERY_S = 0.01


def current(env: Env, worker: str) -> "WorkerProcess":
    """The newest incarnation of a worker, which must be running."""
    if env.workload is None:
        raise FaultError("no workload is running")
    mine = [p for p in env.workload.processes if p.name == worker]
    if not mine or mine[-1].status == ProcessState.DEAD:
        raise FaultError(f"worker {worker!r} is not running")
    return mine[-1]


class ClientFault(FaultSpec):
    """Shared by the client faults: which worker, and which moment. They need nothing of the
    backend: the run's workload is theirs."""

    worker: str
    window: Window = Field(Window.ANY, description="wait until the worker is in this window (at most "
                                                   f"{WINDOW_WAIT_S:.0f} s), then act")

    def caught(self, env: Env) -> "WorkerProcess":
        """The worker, frozen inside its window (or running, for `any`)."""
        from harness.workload.windows import in_window  # reads Arrow files: only when a fault runs

        process = current(env, self.worker)
        if self.window == Window.ANY:
            return process
        deadline = time.monotonic() + WINDOW_WAIT_S
        while time.monotonic() < deadline:
            if in_window(process.runtime.history_dir, self.window):
                process.pause()
                if in_window(process.runtime.history_dir, self.window):
                    return process
                process.resume()
            if process.status == ProcessState.DEAD:
                break
            time.sleep(LOOK_EVERY_S)
        raise FaultError(f"worker {self.worker} was not {self.window} within {WINDOW_WAIT_S:.0f} s")

    def where(self) -> str:
        return "" if self.window == Window.ANY else f" ({self.window})"


@fault
class KillWorker(ClientFault):
    """SIGKILL a worker; healed by starting its next incarnation (seed scenarios 2, 24)."""

    fault: Literal["kill-worker"] = "kill-worker"

    def inject(self, env: Env) -> Injected:
        process = self.caught(env)
        pid = process.pid
        process.kill()  # a frozen process dies of SIGKILL as it is
        return Injected(f"SIGKILL worker {process.name}.{process.incarnation}{self.where()}", [self.worker],
                        [f"SIGKILL pid {pid}"], lambda: _restart(env, process))


@fault
class PauseWorker(ClientFault):
    """SIGSTOP a worker (a consumer paused past its session timeout is rebalanced away, and
    must be fenced when it wakes); healed by SIGCONT."""

    fault: Literal["pause-worker"] = "pause-worker"

    def inject(self, env: Env) -> Injected:
        process = self.caught(env)
        if process.status != ProcessState.PAUSED:
            process.pause()

        def heal() -> str:
            if process.status == ProcessState.PAUSED:
                process.resume()
            return f"SIGCONT {process.name}.{process.incarnation}"

        return Injected(f"SIGSTOP worker {process.name}.{process.incarnation}{self.where()}", [self.worker],
                        [f"SIGSTOP pid {process.pid}"], heal)


@fault
class StopWorker(ClientFault):
    """SIGTERM a worker (it finishes what it holds, as in a deploy); healed by starting its next
    incarnation."""

    fault: Literal["stop-worker"] = "stop-worker"

    def inject(self, env: Env) -> Injected:
        process = self.caught(env)
        pid = process.pid
        process.stop()  # continues a frozen worker so it can act on SIGTERM
        return Injected(f"SIGTERM worker {process.name}.{process.incarnation}{self.where()}", [self.worker],
                        [f"SIGTERM pid {pid}"], lambda: _restart(env, process))


def _restart(env: Env, process: "WorkerProcess") -> str:
    newer = env.workload.start(process.runtime.worker)
    return f"started {newer.name}.{newer.incarnation}"
