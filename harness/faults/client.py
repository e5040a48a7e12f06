"""Client faults: crash or freeze a producer, consumer or transformer worker."""

from __future__ import annotations

import time
from typing import ClassVar, Literal

from harness.faults.base import Env, FaultError, FaultSpec, Injected, fault
from harness.history.load import read_stream
from harness.workload.launcher import WorkerProcess

OPEN_TXN_WAIT_S = 30.0


def current(env: Env, worker: str) -> WorkerProcess:
    """The newest incarnation of a worker, which must be running."""
    if env.workload is None:
        raise FaultError("no workload is running")
    mine = [p for p in env.workload.processes if p.name == worker]
    if not mine or mine[-1].status == "dead":
        raise FaultError(f"worker {worker!r} is not running")
    return mine[-1]


@fault
class KillWorker(FaultSpec):
    """SIGKILL a worker; healed by starting its next incarnation (seed scenarios 2, 24).

    With `in_transaction`, wait until the worker has a transaction open, so the kill lands
    mid-transaction (its transaction must then be aborted or fenced)."""

    fault: Literal["kill-worker"] = "kill-worker"
    worker: str
    in_transaction: bool = False

    requires: ClassVar[frozenset[str]] = frozenset({"workload"})

    def inject(self, env: Env) -> Injected:
        process = current(env, self.worker)
        if self.in_transaction:
            _wait_for_open_transaction(process)
        pid = process.pid
        process.kill()

        def heal() -> str:
            newer = env.workload.start(process.runtime.worker)
            return f"started {newer.name}.{newer.incarnation}"

        where = " mid-transaction" if self.in_transaction else ""
        return Injected(f"SIGKILL worker {process.name}.{process.incarnation}{where}", [self.worker],
                        [f"SIGKILL pid {pid}"], heal)


@fault
class PauseWorker(FaultSpec):
    """SIGSTOP a worker (a consumer paused past its session timeout is rebalanced away, and
    must be fenced when it wakes); healed by SIGCONT."""

    fault: Literal["pause-worker"] = "pause-worker"
    worker: str

    requires: ClassVar[frozenset[str]] = frozenset({"workload"})

    def inject(self, env: Env) -> Injected:
        process = current(env, self.worker)
        process.pause()

        def heal() -> str:
            if process.status == "paused":
                process.resume()
            return f"SIGCONT {process.name}.{process.incarnation}"

        return Injected(f"SIGSTOP worker {process.name}.{process.incarnation}", [self.worker],
                        [f"SIGSTOP pid {process.pid}"], heal)


def _wait_for_open_transaction(process: WorkerProcess, timeout: float = OPEN_TXN_WAIT_S) -> None:
    """Until the worker's history shows a transaction begun and not ended."""
    path = process.runtime.history_dir / "txns.arrows"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = read_stream(path).to_pylist() if path.exists() else []
        if rows and rows[-1]["action"] == "begin" and rows[-1]["phase"] == "ok":
            return
        time.sleep(0.01)
    raise FaultError(f"worker {process.name} opened no transaction within {timeout:.0f} s")


@fault
class StopWorker(FaultSpec):
    """SIGTERM a worker (it finishes what it holds, as in a deploy); healed by starting its next
    incarnation."""

    fault: Literal["stop-worker"] = "stop-worker"
    worker: str

    requires: ClassVar[frozenset[str]] = frozenset({"workload"})

    def inject(self, env: Env) -> Injected:
        process = current(env, self.worker)
        pid = process.pid
        process.stop()

        def heal() -> str:
            newer = env.workload.start(process.runtime.worker)
            return f"started {newer.name}.{newer.incarnation}"

        return Injected(f"SIGTERM worker {process.name}.{process.incarnation}", [self.worker],
                        [f"SIGTERM pid {pid}"], heal)
