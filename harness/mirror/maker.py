"""MirrorMaker 2 as a process of the harness: one dedicated-mode JVM from org.apache.kafka:
connect-mirror (resolved with Maven and cached like the brokers' jars), started, killed and
started again by faults. It carries the replica cluster's marker (`-Dkafka.chaos.cluster=`), so
`kafka-chaos cluster down --name <replica>` removes one a killed harness left."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

from harness.cluster.distribution import KafkaDistribution, _with_java, maven_libs
from harness.cluster.layout import logging_config
from harness.cluster.state import MARKER
from harness.mirror.spec import ARTIFACT, MAIN_CLASS, MirrorSpec, properties, render
from harness.process import ProcessRef, ProcessState

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 20.0


def distribution(version: str) -> KafkaDistribution:
    """connect-mirror's jars (with their runtime dependencies) at `version`, and a Java for them."""
    return _with_java(version, maven_libs(version, artifact=ARTIFACT), "maven", dict(os.environ))


class MirrorMaker:
    """One MirrorMaker 2 process replicating `topics` and `groups` from primary to replica."""

    def __init__(self, spec: MirrorSpec, folder: Path, primary: str, replica: str, topics: list[str],
                 groups: list[str], dist: KafkaDistribution):
        self.spec, self.folder, self.dist = spec, Path(folder), dist
        self.replica_addresses = sorted({server.rsplit(":", 1)[0] for server in replica.split(",")})
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config = self.folder / "mm2.properties"
        self.config.write_text(render(properties(spec, primary, replica, topics, groups)))
        name, contents, self._log_property = logging_config(dist.logging)
        self.logging = self.folder / name
        self.logging.write_text(contents)
        self.log = self.folder / "mirror-maker.log"
        self.process: ProcessRef | None = None
        self.starts = 0

    def command(self) -> list[str]:
        heap = self.spec.heap_mb
        options = (f"-Xms{heap}m", f"-Xmx{heap}m", "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError",
                   "-XX:CICompilerCount=2", "-Djava.awt.headless=true", f"{MARKER}{self.spec.replica.name}",
                   "-Dkafka.chaos.mirror=1", f"{self._log_property}{self.logging}")
        return self.dist.java_command(MAIN_CLASS, str(self.config), jvm_options=options)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.alive else None

    @property
    def status(self) -> ProcessState:
        return self.process.status() if self.process else ProcessState.DEAD

    def start(self) -> None:
        if self.status != ProcessState.DEAD:
            raise RuntimeError(f"MirrorMaker is already {self.status}")
        with open(self.log, "ab") as out:
            popen = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=self.folder, start_new_session=True)
        self.process = ProcessRef.of(popen)
        self.starts += 1
        log.info("MirrorMaker started (pid %s)", popen.pid)

    def kill(self) -> int | None:
        """SIGKILL: what it had read and not yet written, or written and not yet marked, is redone."""
        pid = self.pid
        if self.process:
            self.process.kill()
        return pid

    def stop(self) -> None:
        if self.process:
            self.process.terminate(STOP_TIMEOUT_S)

    def __enter__(self) -> "MirrorMaker":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
