"""kafka-chaos as a library: load an experiment, run it against a cluster, get a result.

    from harness import api

    result = api.run("experiments/leader-kill-acks-all.yaml", seed=7)
    result.passed, result.verdict, result.anomalies.get("lost-write"), result.report

    with api.Session(out="reports", keep_cluster=True) as chaos:     # one cluster for many runs
        for result in chaos.repeat("experiments/x.yaml", times=10):
            ...
        chaos.replay(result.run_dir)
        chaos.shrink(failing.run_dir, budget_s=1800)

An experiment is a path to a YAML file, YAML text, a dict, or an `Experiment`. The command line
(`kafka-chaos run | replay | shrink`) is a thin layer over this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.checker.model import CheckResult, Status, Verdict
from harness.cluster.backends import BackendName
from harness.errors import UsageError
from harness.experiment import loader
from harness.experiment.model import Experiment
from harness.rundir import RunDir
from harness.rundir.record import Outcome, RunRecord

ExperimentSource = str | Path | dict | Experiment


def experiment_from(source: ExperimentSource, runnable: bool = True, backend: BackendName | None = None,
                    attach: str | None = None) -> tuple[Experiment, str]:
    """The experiment and where it came from (a file's path, or a description); on `backend`, or
    on the running cluster `attach` names, when given."""
    if isinstance(source, Experiment):
        return loader.with_cluster(source, backend, attach), f"<{source.name}>"
    if isinstance(source, dict):
        return loader.parse(yaml.safe_dump(source, sort_keys=False), "<dict>", runnable, backend, attach), "<dict>"
    is_file_name = isinstance(source, str) and "\n" not in source and source.endswith((".yaml", ".yml"))
    if isinstance(source, Path) or is_file_name:
        return loader.load_experiment(Path(source), runnable, backend, attach), str(source)
    return loader.parse(source, "<text>", runnable, backend, attach), "<text>"


@dataclass
class Result:
    """One run: its record (outcome, seed, where it is) and the checker's verdict, when judged."""

    record: RunRecord
    check: CheckResult | None = None

    @property
    def outcome(self) -> Outcome:
        return self.record.outcome

    @property
    def verdict(self) -> Verdict | None:
        return self.record.verdict

    @property
    def passed(self) -> bool:
        """The run met the experiment's expectation (a known-bad one was caught)."""
        return self.record.met_expectation

    @property
    def exit_code(self) -> int:
        return int(self.record.exit_code)

    @property
    def run_dir(self) -> Path:
        return self.record.run_dir

    @property
    def report(self) -> Path:
        return RunDir(self.record.run_dir).report

    @property
    def seed(self) -> int:
        return self.record.seed

    @property
    def replay_command(self) -> str:
        return self.record.replay_command

    @property
    def invariants(self) -> dict[str, Status]:
        return {i.kind.value: i.status for i in self.check.invariants} if self.check else {}

    @property
    def anomalies(self) -> dict[str, list[dict]]:
        return self.check.anomalies if self.check else {}

    def counts(self) -> dict[str, int]:
        """How many anomalies of each kind were found (allowed ones included)."""
        return {i.kind.value: i.count for i in self.check.invariants if i.count} if self.check else {}

    def explain(self, examples: int = 3) -> str:
        """What a person needs when a gate fails: what failed with counts, a few anomalies with
        their evidence, the seed and replay command, and where the report is."""
        r = self.record
        lines = [f"{r.experiment}: {r.outcome.value} (expected {r.expect}; checker verdict "
                 f"{r.verdict.value if r.verdict else 'none'})"]
        if r.message:
            lines.append(f"  {r.message}")
        for failing in r.failing:
            lines.append(f"  {failing['name']} ({failing['status']}): {failing['count']}")
            for anomaly in self.anomalies.get(failing["name"], [])[:examples]:
                lines.append(f"    - {_one_line(anomaly)}")
        if r.outcome == Outcome.NOT_CAUGHT:
            lines.append("  a known-bad experiment showed no violation")
        lines += [f"  seed {r.seed}; replay: {r.replay_command}", f"  report: {self.report}"]
        return "\n".join(lines)


def _one_line(anomaly: dict) -> str:
    text = anomaly.get("explanation") or ", ".join(f"{k}={v}" for k, v in list(anomaly.items())[:6])
    return " ".join(str(text).split())[:300]


def result_of(run: RunDir | Path) -> Result:
    """The result of a stored run, from its directory."""
    run = RunDir.of(run)
    from harness.rundir.record import load_record

    record = load_record(run)
    if record is None:
        raise UsageError(f"{run.record}: missing: {run} is not a finished run")
    return Result(record, _verdict(run))


def _verdict(run: RunDir) -> CheckResult | None:
    try:
        return CheckResult.model_validate(json.loads(run.verdict.read_text()))
    except (OSError, ValueError):
        return None


@dataclass
class Session:
    """Runs that share a cluster: it is started by the first run that needs it, reused while
    experiments' cluster settings agree, and removed on close unless `keep_cluster`."""

    out: Path = Path("reports")
    keep_cluster: bool = False
    kafka_version: str | None = None
    backend: BackendName | None = None  # every experiment on this backend (default: each its own)
    attach: str | None = None  # every experiment on this running cluster (a compose project), taken over
    progress: Callable[[str, str], object] | None = None  # (experiment, phase)
    home: dict | None = None  # the cluster's name, subnet and ports (default: the harness's run cluster)
    _pool: object = field(default=None, repr=False)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def pool(self):
        if self._pool is None:
            from harness.orchestrator.pool import ClusterPool

            self._pool = ClusterPool(Path(self.out) / ".cluster", keep=self.keep_cluster)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def start(self, nodes: int = 3):
        """Start (or take up) the session's cluster now, rather than at its first run."""
        from harness.cluster.containers.spec import DockerSpec
        from harness.cluster.spec import ClusterSpec
        from harness.orchestrator.plan import RUN_CLUSTER

        docker = self.attach or self.backend == BackendName.DOCKER
        return self.pool.get(ClusterSpec(**(self.home or RUN_CLUSTER), nodes=nodes, kafka_version=self.kafka_version,
                                         docker=DockerSpec(attach=self.attach) if docker else None))

    @property
    def cluster(self):
        """The running cluster, if one was started."""
        return self._pool.cluster if self._pool is not None else None

    def run(self, experiment: ExperimentSource, seed: int | None = None, *, source: str | None = None,
            replayed_from: Path | None = None, shrunk_from: Path | None = None) -> Result:
        from harness.orchestrator.plan import RunPlan
        from harness.orchestrator.run import Run

        loaded, where = experiment_from(experiment, backend=self.backend, attach=self.attach)
        plan = RunPlan.of(loaded, source or where, RunDir.create(self.out, loaded.name), seed, self.kafka_version,
                          self.home)
        progress = (lambda phase: self.progress(loaded.name, phase)) if self.progress else None
        run = Run(plan, self.pool, progress)
        run.record.replayed_from, run.record.shrunk_from = replayed_from, shrunk_from
        record = run.execute()
        return Result(record, _verdict(plan.run))

    def repeat(self, experiment: ExperimentSource, times: int, seed: int | None = None,
               until_fail: bool = False, source: str | None = None) -> Iterator[Result]:
        """Run `times` times, a fresh seed each (or seed, seed + 1, ... when given, so the sequence
        replays); with `until_fail`, stop after the first run whose checker found a violation."""
        loaded, where = experiment_from(experiment, backend=self.backend, attach=self.attach)
        for i in range(times):
            result = self.run(loaded, None if seed is None else seed + i, source=source or where)
            yield result
            if result.outcome == Outcome.INTERRUPTED or (until_fail and result.verdict == Verdict.VIOLATION):
                return

    def replay(self, run_dir: Path) -> Result:
        """The run again: its experiment, its seed and its planned faults, aimed where they hit."""
        from harness.orchestrator.recorded import Recorded

        recorded = Recorded(run_dir)
        return self.run(recorded.replayable(), recorded.seed, source=recorded.source,
                        replayed_from=Path(run_dir))

    def shrink(self, run_dir: Path, budget_s: float = 1800, tries: int = 2, on_step=None):
        """A smaller experiment that still fails as the run did (see harness.shrink)."""
        from harness.shrink.runner import shrink

        return shrink(self, Path(run_dir), budget_s, tries, on_step)


def run(experiment: ExperimentSource, seed: int | None = None, **session) -> Result:
    """One run on a cluster of its own (removed afterwards unless `keep_cluster=True`)."""
    with Session(**session) as chaos:
        return chaos.run(experiment, seed)


def check(run_dir: Path, semantics=None) -> CheckResult:
    """Judge a stored run again (no cluster needed)."""
    from harness.checker.check import check as judge

    return judge(run_dir, semantics)
