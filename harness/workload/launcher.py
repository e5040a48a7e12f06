"""Starting and controlling worker processes: the API the orchestrator and faults use.

    with Workload(run_dir, cluster.bootstrap_servers, Semantics.AT_LEAST_ONCE) as workload:
        producer = workload.start(ProducerConfig(name="p1", topics=["orders"], rate=1000))
        ...
        producer = producer.kill().restart()      # SIGKILL, then a new incarnation
        workload.final_read(["orders"])

Each start is a new incarnation of the named worker, in its own history directory
`history/<name>.<incarnation>/`; producers get a fresh producer id per incarnation, and keep
one transactional id across incarnations so a new one fences the old. Every start, and every
exit seen (with its return code: negative when killed by a signal), goes into
`history/workers.jsonl` (harness.history.manifest): the checker proves from it which histories
must be whole.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
import zlib
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from harness.history.manifest import ManifestWriter
from harness.process import ProcessRef, ProcessState
from harness.rundir import RunDir, WorkerDir
from harness.workload.access import Access, acls_for
from harness.workload.worker import AUTH_FAILED, HARNESS_PID
from harness.workload.config import (Clients, FinalReadConfig, Isolation, ProducerConfig, Runtime, Semantics,
                                     SinkConfig, StreamsConfig, TransformerConfig, WorkerConfig, resolve)

if TYPE_CHECKING:
    from harness.cluster.backend import Security
    from harness.database.postgres import Postgres
    from harness.workload.streams import StreamsApp

STOP_TIMEOUT_S = 60.0


class WorkerProcess:
    def __init__(self, workload: "Workload", runtime: Runtime, popen: subprocess.Popen):
        self.workload, self.runtime, self.popen = workload, runtime, popen
        self.ref = ProcessRef.of(popen)
        self._exit_recorded = False
        self._exit_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"WorkerProcess({self.name}.{self.incarnation}, pid {self.pid}, {self.status})"

    @property
    def name(self) -> str:
        return self.runtime.worker.name

    @property
    def incarnation(self) -> int:
        return self.runtime.incarnation

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def status(self) -> ProcessState:
        return ProcessState.DEAD if self.returncode is not None else self.ref.status()

    @property
    def returncode(self) -> int | None:
        return self._seen(self.popen.poll())

    def _seen(self, code: int | None) -> int | None:
        """Record the exit in the manifest the first time it is seen."""
        if code is not None:
            with self._exit_lock:  # faults and the orchestrator poll from different threads
                if not self._exit_recorded:
                    self._exit_recorded = True
                    if isinstance(self.runtime.worker, StreamsConfig):  # its history is made from its record
                        from harness.workload import streams

                        streams.convert(WorkerDir(self.runtime.history_dir), self.runtime, self.pid)
                    self.workload.manifest.exited(self.name, self.incarnation, code,
                                                  WorkerDir(self.runtime.history_dir))
        return code

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM: the worker finishes what it holds and records it; SIGKILL after `timeout`."""
        if self.popen.poll() is None:
            self.ref.terminate(timeout)
        return self._seen(self.popen.wait())

    def kill(self) -> "WorkerProcess":
        """SIGKILL: whatever it held in memory is lost, as in a crash."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self._seen(self.popen.wait())
        return self

    def pause(self) -> None:
        self._signal(signal.SIGSTOP, ProcessState.PAUSED)

    def resume(self) -> None:
        self._signal(signal.SIGCONT, ProcessState.RUNNING)

    def wait(self, timeout: float | None = None) -> int:
        return self._seen(self.popen.wait(timeout))

    @property
    def authentication_failed(self) -> bool:
        return self.returncode == AUTH_FAILED

    def restart(self) -> "WorkerProcess":
        """A new incarnation of the same worker (this one must be dead)."""
        if self.popen.poll() is None:
            raise RuntimeError(f"{self!r} is still running")
        return self.workload.start(self.runtime.worker)

    def _signal(self, sig: signal.Signals, expected: ProcessState) -> None:
        if not (self.ref.send(sig) and self.ref.wait_status(expected, 10)):
            raise RuntimeError(f"{self!r} did not become {expected} on {sig.name}")


class Workload:
    def __init__(self, run_dir: Path, bootstrap_servers: str, semantics: Semantics, seed: int = 0,
                 tag: str | None = None, security: "Security | None" = None, client: dict[str, str] | None = None):
        """`security`: a secured cluster's users and ACLs; each worker then logs in as itself.
        Without it, `client`: the librdkafka login every worker shares (a cluster the harness did
        not secure, reached as the one principal its experiment names)."""
        self.run_dir = Path(run_dir)
        self.bootstrap_servers, self.semantics, self.seed = bootstrap_servers, semantics, seed
        self.tag = tag or uuid.uuid4().hex[:8]  # keeps transactional ids apart across runs
        self.access = Access(security, self.tag) if security else None
        self.client = dict(client or {})
        self.processes: list[WorkerProcess] = []
        self._incarnations: dict[str, int] = defaultdict(int)
        self._producer_ids = 0
        self.manifest = ManifestWriter(RunDir.of(self.run_dir).manifest)
        self.database: "Postgres | None" = None  # the run's database, where sinks write (and faults reach it)
        self.streams_app: "StreamsApp | None" = None  # the built Kafka Streams application, for streams workers

    def __enter__(self) -> "Workload":
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()

    def transactional_id(self, worker: str) -> str:
        return f"kafka-chaos-{self.tag}-{worker}"

    def authorize(self, workers: list[WorkerConfig], topics: list[str]) -> None:
        """On a secured cluster: a principal with its ACLs for each worker, and for the final readers
        of `topics`, all at once before any starts (workers started later get theirs when they start)."""
        if self.access:
            wanted = [resolve(w, self.semantics) for w in [*workers, *final_readers(topics)]]
            self.access.prepare({w.name: acls_for(w, clients, self.access.user(w.name), self.transactional_id(w.name))
                                 for w, clients in wanted})

    def _login(self, worker: WorkerConfig, clients: Clients) -> Clients:
        """The worker's clients logged in as its own principal (or the shared one); its own `client`
        settings win (an experiment may give a worker a wrong password on purpose)."""
        if self.access:
            if worker.name not in self.access.credentials:
                self.access.prepare({worker.name: acls_for(worker, clients, self.access.user(worker.name),
                                                           self.transactional_id(worker.name))})
            login = self.access.client(worker.name)
        elif self.client:
            login = self.client
        else:
            return clients
        return Clients(consumer={**login, **clients.consumer} if clients.consumer else {},
                       producer={**login, **clients.producer} if clients.producer else {})

    def failed_authentication(self) -> WorkerProcess | None:
        """A worker that stopped because the cluster refused its credentials."""
        return next((p for p in self.processes if p.authentication_failed), None)

    def start(self, worker: WorkerConfig) -> WorkerProcess:
        worker, clients = resolve(worker, self.semantics)
        clients = self._login(worker, clients)
        self._incarnations[worker.name] += 1
        incarnation = self._incarnations[worker.name]
        producing = isinstance(worker, (ProducerConfig, TransformerConfig, StreamsConfig)) or bool(
            getattr(worker, "dead_letter_topic", None))
        if producing:
            self._producer_ids += 1
        directory = RunDir.of(self.run_dir).worker(worker.name, incarnation)
        directory.path.mkdir(parents=True, exist_ok=True)
        runtime = Runtime(
            worker=worker, semantics=self.semantics, bootstrap_servers=self.bootstrap_servers,
            history_dir=directory.path, incarnation=incarnation,
            producer_id=self._producer_ids if producing else None,
            transactional_id=self.transactional_id(worker.name),
            seed=self.seed * 1_000_003 + zlib.crc32(worker.name.encode()) + incarnation,
            consumer_client=clients.consumer, producer_client=clients.producer,
            database=self.database.dsn if isinstance(worker, SinkConfig) and self.database else None,
        )
        # The harness's pid, not the worker's first getppid(): a harness killed while the worker
        # was still starting would otherwise leave it an orphan that never notices.
        env = {**os.environ, **runtime.save(directory.runtime), HARNESS_PID: str(os.getpid())}
        self.manifest.started(worker.name, incarnation, worker.kind)  # before it can write anything
        command = [sys.executable, "-m", "harness.workload", str(directory.runtime)]
        if isinstance(worker, StreamsConfig):
            command = self._streams_command(runtime, directory)
        with open(directory.log, "ab") as log:
            popen = subprocess.Popen(command, env=env,
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)  # the harness, not a terminal, stops it
        process = WorkerProcess(self, runtime, popen)
        self.processes.append(process)
        return process

    def _streams_command(self, runtime: Runtime, directory: WorkerDir) -> list[str]:
        """A Kafka Streams instance is the JVM itself, so a kill of the worker is a kill of it."""
        from harness.workload import streams

        if self.streams_app is None:
            raise RuntimeError("a streams worker needs the built application (Workload.streams_app)")
        if self.access or self.client:
            raise RuntimeError("streams workers do not log in to secured clusters yet")
        RunDir.of(self.run_dir).streams_state(runtime.worker.name).mkdir(parents=True, exist_ok=True)
        streams.write_properties(directory.streams_properties, streams.properties(runtime, os.getpid()))
        return self.streams_app.command(directory.streams_properties)

    def final_read(self, topics: list[str], timeout_s: float = 120) -> list[WorkerProcess]:
        """Read every partition to its end under both isolation levels; returns once both finish."""
        readers = [self.start(reader) for reader in final_readers(topics, timeout_s)]
        for reader in readers:
            reader.wait(timeout_s + 60)
        return readers

    def stop_all(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop every worker still running: SIGTERM together, SIGKILL stragglers."""
        running = [p for p in self.processes if p.popen.poll() is None]
        for process in running:
            process.ref.send(signal.SIGTERM)
            process.ref.send(signal.SIGCONT)
        for process in running:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        for process in self.processes:  # exits nobody asked about yet (workers that ended by themselves)
            _ = process.returncode


def final_readers(topics: list[str], timeout_s: float = 120) -> list[FinalReadConfig]:
    """The final read: one reader per isolation level."""
    return [FinalReadConfig(name=f"final-{isolation.value.replace('_', '-')}", topics=topics, isolation=isolation,
                            timeout_s=timeout_s) for isolation in Isolation]
