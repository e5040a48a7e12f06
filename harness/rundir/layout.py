"""Names of a run directory's artefacts (see the package's docstring for the tree)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

INDEX_FILE = "index.html"  # in the folder of run directories: every run, newest first
STREAM_SUFFIX = ".arrows"


@dataclass(frozen=True)
class WorkerDir:
    """`history/<worker>.<incarnation>/`: one worker incarnation's history."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def of(cls, directory: "WorkerDir | Path | str") -> "WorkerDir":
        return directory if isinstance(directory, WorkerDir) else cls(Path(directory))

    @property
    def name(self) -> str:
        return self.path.name.rpartition(".")[0]

    @property
    def incarnation(self) -> int:
        return int(self.path.name.rpartition(".")[2])

    @property
    def runtime(self) -> Path:
        return self.path / "runtime.json"

    @property
    def process(self) -> Path:
        return self.path / "process.json"

    @property
    def log(self) -> Path:
        return self.path / "worker.log"

    @property
    def streams_facts(self) -> Path:
        """A Kafka Streams instance's own record, one JSON line per fact (harness.workload.streams),
        from which its history tables are made; kept, since the checker reads the counts from it."""
        return self.path / "streams.jsonl"

    @property
    def streams_properties(self) -> Path:
        """The Kafka Streams instance's settings (its Java properties file)."""
        return self.path / "streams.properties"

    def stream(self, table: str) -> Path:
        """The Arrow IPC stream of one history table (`invokes`, `reads`, ...)."""
        return self.path / f"{table}{STREAM_SUFFIX}"

    def streams(self) -> list[Path]:
        """Every stream file present, in name order."""
        return sorted(self.path.glob(f"*{STREAM_SUFFIX}"))


@dataclass(frozen=True)
class RunDir:
    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def __str__(self) -> str:
        return str(self.path)

    def __fspath__(self) -> str:  # a RunDir goes wherever a path does
        return str(self.path)

    @classmethod
    def of(cls, run: "RunDir | Path | str") -> "RunDir":
        return run if isinstance(run, RunDir) else cls(Path(run))

    @classmethod
    def create(cls, out: Path, experiment: str) -> "RunDir":
        """A new run directory under `out`, named for the moment and the experiment."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        path = Path(out) / f"{stamp}-{experiment}"
        path.mkdir(parents=True)
        return cls(path)

    @property
    def name(self) -> str:
        return self.path.name

    def marks(self) -> list[Path]:
        """Files only a run writes."""
        return [self.record, self.experiment_json, self.events, self.manifest]

    def looks_like_a_run(self) -> bool:
        """Whether a run wrote here (however damaged it is now)."""
        if any(p.exists() for p in self.marks()):
            return True
        try:
            return self.history.is_dir() and any(p.is_dir() for p in self.history.iterdir())
        except OSError:
            return False

    # ---- what was asked ------------------------------------------------------------------

    @property
    def experiment_yaml(self) -> Path:
        return self.path / "experiment.yaml"

    @property
    def experiment_json(self) -> Path:
        return self.path / "experiment.json"

    # ---- what happened -------------------------------------------------------------------

    @property
    def events(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def observer(self) -> Path:
        return self.path / "observer"

    @property
    def observer_config(self) -> Path:
        return self.observer / "config.json"

    @property
    def observer_log(self) -> Path:
        return self.observer / "observer.log"

    @property
    def samples(self) -> Path:
        return self.observer / "samples.jsonl"

    @property
    def observer_events(self) -> Path:
        return self.observer / "events.jsonl"

    @property
    def history(self) -> Path:
        return self.path / "history"

    @property
    def manifest(self) -> Path:
        """Which worker incarnations the run started and how each ended (the launcher's)."""
        return self.history / "workers.jsonl"

    def relative(self, path: Path) -> str:
        """How a file of this run is named to a person: relative to the run directory."""
        try:
            return Path(path).relative_to(self.path).as_posix()
        except ValueError:
            return str(path)

    def worker(self, name: str, incarnation: int) -> WorkerDir:
        return WorkerDir(self.history / f"{name}.{incarnation}")

    def workers(self) -> list[WorkerDir]:
        """Every worker incarnation's history, in name order."""
        if not self.history.is_dir():
            return []
        return [WorkerDir(p) for p in sorted(self.history.iterdir()) if p.is_dir() and _incarnation(p.name)]

    @property
    def disk(self) -> Path:
        return self.path / "disk"

    @property
    def disk_scanned(self) -> Path:
        return self.disk / "scanned.json"

    @property
    def disk_values(self) -> Path:
        return self.disk / "values.arrow"

    @property
    def database(self) -> Path:
        """The run's PostgreSQL database (sink workers): its tables dumped at the end, its log."""
        return self.path / "database"

    @property
    def database_rows(self) -> Path:
        return self.database / "rows.arrow"

    @property
    def database_offsets(self) -> Path:
        return self.database / "offsets.arrow"

    @property
    def database_log(self) -> Path:
        return self.database / "postgres.log"

    def streams_state(self, worker: str) -> Path:
        """A Kafka Streams worker's state directory (state.dir), shared by its incarnations."""
        return self.path / "streams-state" / worker

    @property
    def mirror(self) -> Path:
        """A mirrored run's second data centre: MirrorMaker's config and log, what the replica held."""
        return self.path / "mirror"

    @property
    def mirror_replica(self) -> Path:
        """Every record of the replica's copies of the run's topics, read after the drain."""
        return self.mirror / "replica.arrow"

    @property
    def mirror_failover(self) -> Path:
        """Where each consumer group, failing over to the replica, resumed reading each partition."""
        return self.mirror / "failover.json"

    @property
    def broker_logs(self) -> Path:
        return self.path / "cluster"

    def broker_log(self, node: int) -> Path:
        return self.broker_logs / f"node-{node}.log"

    # ---- what was concluded ----------------------------------------------------------------

    @property
    def verdict(self) -> Path:
        return self.path / "verdict.json"

    @property
    def record(self) -> Path:
        return self.path / "run.json"

    @property
    def report(self) -> Path:
        return self.path / "report.html"

    @property
    def shrunk(self) -> Path:
        """A smaller experiment that still fails as this run did (`kafka-chaos shrink`)."""
        return self.path / "shrunk.yaml"


def _incarnation(name: str) -> bool:
    worker, dot, number = name.rpartition(".")
    return bool(worker and dot and number.isdigit())
