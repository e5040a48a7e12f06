"""What every worker process shares: its history, a stop flag, client settings, the entry point.

A worker stops cleanly on SIGTERM or SIGINT (finishing what it holds and recording it), and
also when the process that launched it is gone, so a killed harness leaves no worker behind.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import traceback
from abc import ABC, abstractmethod
from pathlib import Path

from confluent_kafka import KafkaError

from harness.history.schema import Table
from harness.history.writer import HistoryWriter
from harness.redact import redact
from harness.workload.config import Runtime
from harness.workload.transactions import Fenced

log = logging.getLogger("harness.worker")
WORKERS: dict[str, type["Worker"]] = {}
AUTH_FAILED = 5  # the exit code of a worker whose credentials the cluster refused (harness.workload.launcher)
HARNESS_PID = "KAFKA_CHAOS_HARNESS_PID"  # set by the launcher: the process whose death stops the worker


class AuthenticationFailed(Exception):
    """The cluster refused the worker's credentials: retrying cannot help."""


def register(kind: str):
    def add(cls: type[Worker]) -> type[Worker]:
        WORKERS[kind] = cls
        return cls

    return add


class Worker(ABC):
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.config = runtime.worker
        self.history = HistoryWriter(runtime.history_dir)
        self._stop_requested = False
        self._parent = int(os.environ.get(HARNESS_PID) or os.getppid())

    @property
    def stopping(self) -> bool:
        return self._stop_requested or os.getppid() != self._parent

    def request_stop(self, *_) -> None:
        self._stop_requested = True

    def consumer_config(self, **extra) -> dict:
        return self._client(self.runtime.consumer_client, extra)

    def producer_config(self, **extra) -> dict:
        return self._client(self.runtime.producer_client, extra)

    def _client(self, properties: dict, extra: dict) -> dict:
        return {"bootstrap.servers": self.runtime.bootstrap_servers, **properties, **extra,
                "logger": logging.getLogger("harness.librdkafka"), "error_cb": self.on_client_error}

    def on_client_error(self, error) -> None:
        """librdkafka's errors not tied to a message (called from poll): a refused login ends the
        worker at once (raised out of poll), so the harness sees it in a second, not after timeouts."""
        if error.code() == KafkaError._AUTHENTICATION:
            raise AuthenticationFailed(error.str())

    def event(self, kind: str, **fields) -> None:
        self.history.row(Table.EVENTS, kind=kind, **fields)

    @abstractmethod
    def run(self) -> None:
        """Do the work until done or `stopping`, recording everything in `self.history`."""


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m harness.workload RUNTIME.json", file=sys.stderr)
        return 2
    import harness.workload.consumer  # noqa: F401  (each module registers its worker kind)
    import harness.workload.final_read  # noqa: F401
    import harness.workload.producer  # noqa: F401
    import harness.workload.sink  # noqa: F401
    import harness.workload.transformer  # noqa: F401

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runtime = Runtime.load(Path(argv[0]))
    worker = WORKERS[runtime.worker.kind](runtime)
    signal.signal(signal.SIGTERM, worker.request_stop)
    signal.signal(signal.SIGINT, worker.request_stop)
    worker.history.describe(redact({
        "kind": runtime.worker.kind, "name": runtime.worker.name, "incarnation": runtime.incarnation,
        "producer": runtime.producer_id, "pid": os.getpid(), "semantics": runtime.semantics.value,
        "config": runtime.worker.model_dump(mode="json"),
        "consumer_client": runtime.consumer_client, "producer_client": runtime.producer_client}))
    worker.event("start")
    code = 0
    try:
        worker.run()
    except Fenced as exc:
        worker.event("fenced", detail=str(exc))
        code = 4
    except AuthenticationFailed as exc:
        worker.event("authentication-failed", detail=str(exc))
        print(f"authentication failed: {exc}", file=sys.stderr)
        code = AUTH_FAILED
    except Exception as exc:  # recorded in the history, then the worker exits non-zero
        worker.event("error", detail=repr(exc))
        traceback.print_exc()
        code = 1
    finally:
        worker.event("stop")
        worker.history.close()
    return code
