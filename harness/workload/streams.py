"""The Kafka Streams worker: a real Kafka Streams application (Java, `workers/streams/`) run as a
worker of the run, its record turned into the history the checker reads (seed scenarios 6, 23, 27).

The application counts records per key in a persistent state store (with its changelog topic):
each input adds one to its key's count and produces one output, same key, whose value is a
harness value (`kc:` header: this incarnation's producer id and a sequence number) followed by
the count. Instances sharing an application id split the input's partitions; a SIGKILLed
instance's tasks move to the others, and a restarted one restores its state from the changelog.

The launcher runs the JVM itself (so a kill is a kill of the Streams instance, not of a wrapper).
The application appends one JSON line per fact to `streams.jsonl` in its history directory,
each handed to the OS before the output it describes is forwarded, so SIGKILL can cut only the
last line and every output in the log has its line. When the harness sees the instance exit,
`convert` writes the history tables from those lines (reads: inputs processed; invokes: outputs,
naming their input as a transformer's do, with no completions since Kafka Streams reports none;
events: start, stop, task assignments, stores restored from their changelog with how many
records, errors) and closes them, before the manifest seals them.
The lines stay: the checker reads each output's count from them (`counts`).

Building: `obtain(version)` builds the application with Maven against
org.apache.kafka:kafka-streams at the cluster's version once, into the cache (like the Kafka
distribution, harness.cluster.distribution), keyed by version and the sources' digest.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness import paths
from harness.cluster.distribution import find_java, parse_version
from harness.errors import EnvironmentProblem
from harness.history.schema import Table
from harness.history.writer import HistoryWriter
from harness.redact import redact
from harness.rundir import RunDir, WorkerDir
from harness.workload.config import Runtime, StreamsConfig

SOURCES = Path(__file__).resolve().parents[2] / "workers" / "streams"
MAIN = "kafkachaos.CountApp"
_COMPLETE = "COMPLETE"
# A small heap and a quick start: several instances share two cores with the brokers.
JVM_OPTIONS = ("-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
# Failures seen within a short run (Kafka's 45 s session timeout would outlast a phase).
_DEFAULTS = {"consumer.session.timeout.ms": "10000", "consumer.heartbeat.interval.ms": "2000",
             "replication.factor": "-1", "num.stream.threads": "1", "auto.offset.reset": "earliest"}


@dataclass(frozen=True)
class StreamsApp:
    """The built application: its jar, its dependencies, the Java that runs it."""

    jar: Path
    libs: Path
    java: Path

    def command(self, properties: Path) -> list[str]:
        return [str(self.java), *JVM_OPTIONS, "-cp", f"{self.jar}:{self.libs}/*", MAIN, str(properties)]


# ---- building ------------------------------------------------------------------------------

def source_digest() -> str:
    """Of the pom and the Java sources: an edited application is built again."""
    digest = hashlib.sha256()
    for path in sorted([SOURCES / "pom.xml", *(SOURCES / "src").rglob("*.java")]):
        digest.update(path.relative_to(SOURCES).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def cached(version: str) -> Path:
    return paths.cache_dir() / "streams-app" / f"{version}-{source_digest()}"


def obtain(version: str) -> StreamsApp:
    """The application built against Kafka Streams `version`, from the cache (built the first time)."""
    parse_version(version)
    java = find_java(17)
    folder = cached(version)
    if not (folder / _COMPLETE).exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with open(folder.parent / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another harness may be building the same one
            if not (folder / _COMPLETE).exists():
                _build(version, folder)
    return StreamsApp(jar=folder / "app.jar", libs=folder / "libs", java=java)


def _build(version: str, folder: Path) -> None:
    mvn = shutil.which("mvn")
    if not mvn:
        raise EnvironmentProblem("the Kafka Streams worker is not built and Maven (mvn) is not on PATH: "
                                 "install Maven (apt-get install maven)")
    if not shutil.which("javac"):
        raise EnvironmentProblem("the Kafka Streams worker is not built and there is no Java compiler (javac): "
                                 "install a JDK (apt-get install openjdk-17-jdk-headless)")
    with tempfile.TemporaryDirectory(dir=folder.parent) as work:
        build = Path(work) / "build"
        result = subprocess.run(
            [mvn, "-B", "-q", "-f", str(SOURCES / "pom.xml"), f"-Dkafka.version={version}", f"-Dbuild.dir={build}",
             "package", "dependency:copy-dependencies", f"-DoutputDirectory={build / 'libs'}",
             "-DincludeScope=runtime"], capture_output=True, text=True)
        if result.returncode != 0:
            errors = [line.removeprefix("[ERROR]").strip() for line in (result.stdout + result.stderr).splitlines()
                      if line.startswith("[ERROR]") and line.strip() != "[ERROR]"]
            detail = errors[0] if errors else "mvn failed without an error line"
            raise EnvironmentProblem(f"could not build the Kafka Streams worker for Kafka {version}: {detail[:300]}")
        out = Path(work) / "app"
        out.mkdir()
        shutil.move(next(build.glob("kafka-chaos-streams-*.jar")), out / "app.jar")
        shutil.move(build / "libs", out / "libs")
        (out / _COMPLETE).write_text(f"kafka-streams {version}\n")
        shutil.rmtree(folder, ignore_errors=True)
        out.rename(folder)


# ---- launching -----------------------------------------------------------------------------

def properties(runtime: Runtime, harness_pid: int) -> dict[str, str]:
    """The instance's Java properties: Kafka Streams' settings (the worker's `client` on top) and
    the application's own (kc.*)."""
    worker: StreamsConfig = runtime.worker
    directory = WorkerDir(runtime.history_dir)
    settings = {
        **_DEFAULTS,
        "application.id": worker.application,
        "bootstrap.servers": runtime.bootstrap_servers,
        "processing.guarantee": worker.processing_guarantee.value,
        "num.standby.replicas": str(worker.standby_replicas),
        "state.dir": str(RunDir(directory.path.parent.parent).streams_state(worker.name)),
        **({"commit.interval.ms": str(worker.commit_interval_ms)} if worker.commit_interval_ms else {}),
        **{k: _java(v) for k, v in worker.client.items()},
    }
    return {**settings, "kc.input": worker.input, "kc.output": worker.output, "kc.producer": str(runtime.producer_id),
            "kc.history": str(directory.streams_facts), "kc.harness.pid": str(harness_pid)}


def _java(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def write_properties(path: Path, settings: dict[str, str]) -> None:
    """A Java properties file (ISO 8859-1 with escapes: keys and values are written escaped)."""
    def escape(text: str) -> str:
        out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("=", "\\=").replace(":", "\\:")
        return out.encode("ascii", "backslashreplace").decode().replace("\\x", "\\u00")
    path.write_text("".join(f"{escape(k)}={escape(v)}\n" for k, v in settings.items()))
    path.chmod(0o600)


# ---- the record, and the history made from it ----------------------------------------------

def facts(path: Path) -> list[dict]:
    """The JSON lines the application wrote; a last line SIGKILL cut short is left out, and so is
    everything from a line that cannot be read (its history then ends there)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    out = []
    for line in data.split(b"\n")[:-1]:  # the part after the last newline is a cut line, or nothing
        try:
            fact = json.loads(line)
        except ValueError:
            break
        if not isinstance(fact, dict) or "e" not in fact:
            break
        out.append(fact)
    return out


def convert(directory: WorkerDir, runtime: Runtime, pid: int) -> None:
    """Write the incarnation's history (process.json and the five tables, closed) from its record."""
    worker: StreamsConfig = runtime.worker
    history = HistoryWriter(directory)
    history.describe(redact({
        "kind": worker.kind, "name": worker.name, "incarnation": runtime.incarnation,
        "producer": runtime.producer_id, "pid": pid, "semantics": runtime.semantics.value,
        "config": worker.model_dump(mode="json"), "consumer_client": {}, "producer_client": {}}))
    generation = 0
    for fact in facts(directory.streams_facts):
        kind, times = fact["e"], {"mono": int(fact.get("mono", 0)), "wall": int(fact.get("wall", 0))}
        if kind == "read":
            ours = fact["producer"] >= 0
            history.row(Table.READS, topic=fact["topic"], partition=fact["partition"], offset=fact["offset"],
                        key=fact["key"], producer=fact["producer"], seq=fact["seq"], txn=fact["txn"],
                        head=None if ours else b"", leader_epoch=-1, generation=generation, in_txn=0, **times)
        elif kind == "out":
            history.row(Table.INVOKES, producer=runtime.producer_id, seq=fact["seq"], txn=0, topic=worker.output,
                        key=fact["key"], size=fact["size"], source_producer=fact["source_producer"],
                        source_seq=fact["source_seq"], **times)
        elif kind == "assign":  # a task (re)initialised: it starts from the committed offsets again
            generation += 1
            history.row(Table.EVENTS, kind="assign", topic=worker.input, partition=fact["partition"],
                        generation=generation, **times)
        elif kind == "restore":  # a store partition restored from its changelog: `offset` records
            history.row(Table.EVENTS, kind="restore", topic=fact["topic"], partition=fact["partition"],
                        offset=fact["restored"], generation=generation, **times)
        elif kind in ("start", "stop", "error"):
            history.row(Table.EVENTS, kind=kind, detail=fact.get("detail"), **times)
    history.close()


def processed(directory: WorkerDir) -> pd.DataFrame:
    """(topic, partition, offset) of each input an instance processed so far (the drain's view of
    a running instance, whose history is written only when it ends)."""
    rows = [(f["topic"], f["partition"], f["offset"]) for f in facts(directory.streams_facts) if f["e"] == "read"]
    return pd.DataFrame(rows, columns=["topic", "partition", "offset"])


def counts(directory: WorkerDir, producer: int) -> pd.DataFrame:
    """Each output the instance produced: producer, seq, key and the count it carries."""
    rows = [(producer, f["seq"], f["key"], f["count"]) for f in facts(directory.streams_facts) if f["e"] == "out"]
    return pd.DataFrame(rows, columns=["producer", "seq", "key", "count"]).astype(
        {"producer": "int64", "seq": "int64", "count": "int64"})
