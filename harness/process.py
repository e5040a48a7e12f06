"""A handle on an OS process that survives the harness: pid plus start time, so a recycled pid
is never mistaken for ours. Works whether or not this process is the parent."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from enum import StrEnum

import psutil
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed


class ProcessState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # SIGSTOPped
    DEAD = "dead"


@dataclass(frozen=True)
class ProcessRef:
    pid: int
    create_time: float

    @classmethod
    def of(cls, popen: subprocess.Popen) -> "ProcessRef":
        return cls(popen.pid, psutil.Process(popen.pid).create_time())

    @classmethod
    def of_process(cls, process: psutil.Process) -> "ProcessRef":
        return cls(process.pid, process.create_time())

    def _process(self) -> psutil.Process | None:
        try:
            proc = psutil.Process(self.pid)
            return proc if proc.create_time() == self.create_time else None
        except psutil.NoSuchProcess:
            return None

    def status(self) -> ProcessState:
        proc = self._process()
        try:
            state = proc.status() if proc else psutil.STATUS_DEAD
        except psutil.NoSuchProcess:
            state = psutil.STATUS_DEAD
        if state == psutil.STATUS_ZOMBIE:
            self._reap()
        if state in (psutil.STATUS_DEAD, psutil.STATUS_ZOMBIE):
            return ProcessState.DEAD
        return ProcessState.PAUSED if state == psutil.STATUS_STOPPED else ProcessState.RUNNING

    @property
    def alive(self) -> bool:
        return self.status() != ProcessState.DEAD

    def send(self, sig: signal.Signals) -> bool:
        """Signal the process if it is still ours; False when it is already gone."""
        if self._process() is None:
            return False
        try:
            os.kill(self.pid, sig)
            return True
        except ProcessLookupError:
            return False

    def wait_status(self, wanted: ProcessState, timeout: float) -> bool:
        """Wait up to `timeout` seconds for status() to become `wanted`; True if it did.

        Signals are delivered asynchronously: a process is not stopped the moment SIGSTOP is sent.
        """
        waiting = Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(0.02),
                           retry=retry_if_result(lambda status: status != wanted),
                           retry_error_callback=lambda state: state.outcome.result())
        return waiting(self.status) == wanted

    def wait_gone(self, timeout: float) -> bool:
        return self.wait_status(ProcessState.DEAD, timeout)

    def terminate(self, timeout: float) -> None:
        """SIGTERM (continuing it if paused so it can act on it), SIGKILL after `timeout`."""
        if self.send(signal.SIGTERM):
            self.send(signal.SIGCONT)
            if not self.wait_gone(timeout):
                self.kill()

    def kill(self) -> None:
        self.send(signal.SIGKILL)
        self.wait_gone(10)

    def _reap(self) -> None:
        """Collect our own dead child so it does not linger as a zombie."""
        try:
            os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pass


def named_daemons(module: str, prefix: str, cluster: str | None = None) -> list[psutil.Process]:
    """Processes started as `python -m <module> --name <prefix><cluster>`: those of `cluster`, or all.

    The name on the command line is how a later harness (or `cluster down` after a SIGKILLed one)
    finds the daemons an earlier one left."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if module in cmdline and "--name" in cmdline[:-1]:
            name = cmdline[cmdline.index("--name") + 1]
            if name == prefix + cluster if cluster else name.startswith(prefix):
                found.append(proc)
    return found
