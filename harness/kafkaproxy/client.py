"""The harness's side of the protocol proxy: start it (its own session, so a cluster left up
keeps it), talk to its control port, find and stop it after a SIGKILLed harness."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import psutil
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from harness.errors import EnvironmentProblem
from harness.process import ProcessRef, named_daemons

MODULE = "harness.kafkaproxy"
PREFIX = "kafka-chaos-kproxy-"


class KafkaProxy:
    """One proxy process for a cluster: a route per broker, a control port."""

    def __init__(self, cluster: str, control_port: int):
        self.cluster, self.control_port = cluster, control_port

    @property
    def name(self) -> str:
        return PREFIX + self.cluster

    def start(self, jar: Path, routes: dict[int, tuple[str, str]], log: Path) -> ProcessRef:
        """`routes`: node -> (listen host:port, upstream host:port)."""
        args = [sys.executable, "-m", MODULE, "--name", self.name, "--control", str(self.control_port), "--jar", str(jar)]
        for node, (listen, upstream) in sorted(routes.items()):
            args += ["--route", f"{node}={listen}={upstream}"]
        with open(log, "ab") as out:
            popen = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        process = ProcessRef.of(popen)
        waiting = Retrying(stop=stop_after_delay(30), wait=wait_fixed(0.1), retry=retry_if_result(lambda up: not up))
        if not waiting(lambda: not process.alive or self.up()):
            raise EnvironmentProblem(f"the Kafka-protocol proxy did not start (log: {log})")
        if not process.alive:
            raise EnvironmentProblem(f"the Kafka-protocol proxy exited at start (port {self.control_port} taken? "
                                     f"log: {log})")
        return process

    def up(self) -> bool:
        try:
            self.ask({"op": "rules"})
            return True
        except OSError:
            return False

    def ask(self, request: dict) -> dict:
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=10) as conn:
            conn.sendall(json.dumps(request).encode() + b"\n")
            answer = json.loads(conn.makefile().readline() or "{}")
        if "error" in answer:
            raise EnvironmentProblem(f"the Kafka-protocol proxy refused {request['op']}: {answer['error']}")
        return answer

    def add(self, node: int, rule: dict) -> None:
        self.ask({"op": "add", "node": node, "rule": rule})

    def remove(self, tag: str) -> int:
        return self.ask({"op": "remove", "tag": tag})["removed"]

    def clear(self) -> list[str]:
        return self.ask({"op": "clear"})["removed"] if self.up() else []

    def stats(self) -> dict:
        return {int(node): apis for node, apis in self.ask({"op": "stats"})["stats"].items()}

    def stop(self) -> list[str]:
        return stop_all(self.cluster)


def processes(cluster: str | None = None) -> list[psutil.Process]:
    return named_daemons(MODULE, PREFIX, cluster)


def stop_all(cluster: str | None = None) -> list[str]:
    stopped = []
    for proc in processes(cluster):
        try:
            proc.kill()
            proc.wait(10)
            stopped.append(f"kafka-protocol proxy {proc.pid}")
        except psutil.NoSuchProcess:
            continue
    return stopped
