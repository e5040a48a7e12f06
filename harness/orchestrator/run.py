"""Running one experiment end to end, phase by phase, each phase in the event log:

    provision -> topics -> workers -> steady -> faults -> recovery -> stop producers ->
    drain consumers -> final read -> check -> report

Whatever fails on the way (or Ctrl-C, or SIGTERM) still heals the faults and stops the workers;
the cluster pool tears the cluster down unless it is kept. A run that could not judge the
system is a harness error (exit 3), never a pass.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import yaml

from harness.checker import check, write_verdict
from harness.checker.model import AnomalyKind, CheckResult
from harness.cluster import segments
from harness.cluster import state as state_store
from harness.cluster.local import LocalCluster
from harness.cluster.spec import ClusterSpec
from harness.errors import KafkaChaosError
from harness.events import EventLog
from harness.experiment.model import Experiment, Expect
from harness.faults import Env
from harness.faults.runner import FaultRunner
from harness.faults.schedule import plan
from harness.history import disk
from harness.history.load import load
from harness.observe.observer import ObserverProcess
from harness.redact import redact
from harness.report.html import write_report
from harness.orchestrator import steady
from harness.orchestrator.drain import drain
from harness.orchestrator.naming import physical, rename_topics, run_tag
from harness.orchestrator.outcome import Outcome, RunRecord, SteadyCheck, decide
from harness.workload.config import ConsumerConfig, ProducerConfig, TransformerConfig
from harness.workload.launcher import Workload

log = logging.getLogger(__name__)
RUN_CLUSTER = dict(name="run", subnet=10, port_base=22000)


class ClusterPool:
    """Keeps one cluster across experiments while their cluster specs agree, and picks up the
    cluster an earlier `run --keep-cluster` left running."""

    def __init__(self, workdir: Path, keep: bool = False):
        self.workdir, self.keep = workdir, keep
        self.cluster: LocalCluster | None = None
        self.spec: ClusterSpec | None = None  # as requested: a started cluster's own spec is resolved

    def get(self, spec: ClusterSpec) -> LocalCluster:
        if self.cluster is None:
            self._adopt_kept(spec.name)
        if self.cluster and self.spec == spec and all(n.status != "dead" for n in self.cluster.nodes.values()):
            self.cluster.heal_leftovers()
            self.cluster.wait_ready()
            return self.cluster
        self.close(force=True)
        self.cluster, self.spec = LocalCluster(spec, self.workdir / "cluster"), spec
        self.cluster.start(owned=not self.keep)
        return self.cluster

    def _adopt_kept(self, name: str) -> None:
        """The harness's own run cluster, if one is left running: reused when the spec agrees,
        replaced otherwise (`cluster up` clusters have other names and are never touched)."""
        recorded = state_store.load(name)
        if recorded and recorded.owner is None:
            self.cluster, self.spec = LocalCluster.attach(name), recorded.spec
            log.info("found cluster %r left running by an earlier run", name)

    def close(self, force: bool = False) -> None:
        if self.cluster and (force or not self.keep):
            self.cluster.destroy()
            self.cluster = self.spec = None


def cluster_spec(experiment: Experiment, kafka_version: str | None) -> ClusterSpec:
    c = experiment.cluster
    return ClusterSpec(**RUN_CLUSTER, nodes=c.nodes, controllers=c.controllers,
                       kafka_version=kafka_version or c.kafka_version, broker_config=c.broker_config,
                       proxy=experiment.needed_proxies(), disk_mb=experiment.needed_disk_mb())


def missing_partitions(result: CheckResult) -> set[tuple[str, int]]:
    """The partitions of the acknowledged writes no reader saw (lost-write, unseen)."""
    found = set()
    for kind in (AnomalyKind.LOST_WRITE, AnomalyKind.UNSEEN):
        for anomaly in result.anomalies.get(kind.value, []):
            partition = anomaly.get("acked_partition", anomaly.get("partition"))
            if anomaly.get("topic") is not None and partition is not None:
                found.add((str(anomaly["topic"]), int(partition)))
    return found


def new_run_dir(out: Path, name: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    run_dir = Path(out) / f"{stamp}-{name}"
    run_dir.mkdir(parents=True)
    return run_dir


class Run:
    def __init__(self, experiment: Experiment, source: str, run_dir: Path, pool: ClusterPool,
                 seed: int | None = None, kafka_version: str | None = None, progress=None):
        self.exp, self.run_dir, self.pool = experiment, run_dir, pool
        self.seed = experiment.seed if seed is None else seed
        self.kafka_version = kafka_version
        self.tag = run_tag(run_dir.name)
        self.events = EventLog.in_run(run_dir)
        self.progress = progress or (lambda phase: None)
        self.record = RunRecord(experiment=experiment.name, source=source, run_dir=run_dir,
                                description=experiment.description, scenarios=experiment.scenarios,
                                semantics=experiment.semantics.value, expect=experiment.expect.value, seed=self.seed,
                                started_wall=time.time())
        self.workload: Workload | None = None

    def phase(self, name: str, text: str = "") -> None:
        self.events.record("phase", name, text or name)
        self.progress(name)

    def execute(self) -> RunRecord:
        started = time.monotonic()
        self._save_experiment()
        try:
            with ExitStack() as cleanup:
                self._run(cleanup)
        except KeyboardInterrupt:
            self.record.outcome, self.record.message = Outcome.INTERRUPTED, "interrupted: faults healed, workers stopped"
            self.events.record("phase", "interrupted", self.record.message)
        except (KafkaChaosError, OSError) as exc:
            self._harness_error(str(exc))
        except Exception as exc:  # noqa: BLE001  (a harness bug is a harness error, never a pass)
            log.exception("run %s failed", self.exp.name)
            self._harness_error(repr(exc))
        finally:
            self.record.duration_s = round(time.monotonic() - started, 1)
            if self.workload:
                self.record.workers = {f"{p.name}.{p.incarnation}": p.returncode for p in self.workload.processes}
            self.record.save()
            self.events.close()
            self._write_report()
        return self.record

    def _write_report(self) -> None:
        """The HTML report; a report that fails to render never changes the run's outcome."""
        try:
            self.record.report = write_report(self.run_dir)
        except Exception:  # noqa: BLE001
            log.exception("could not write the report of %s", self.run_dir)

    def _harness_error(self, message: str) -> None:
        self.record.outcome, self.record.message = Outcome.HARNESS_ERROR, message
        self.events.record("phase", "harness-error", message)

    def _run(self, cleanup: ExitStack) -> None:
        exp = self.exp
        self.phase("provision")
        cluster = self.pool.get(cluster_spec(exp, self.kafka_version))
        self.record.kafka_version = cluster.dist.version
        self.events.record("cluster", "ready", f"Kafka {cluster.dist.version}, cluster id {cluster.cluster_id}",
                           cluster_id=cluster.cluster_id, pids={n.id: n.pid for n in cluster.nodes.values()})
        log_marks = {n.id: _size(n.log_file) for n in cluster.nodes.values()}
        cleanup.callback(self._collect_broker_logs, cluster, log_marks)

        self.phase("topics")
        for topic in exp.topics:
            config = {k: _kafka(v) for k, v in topic.config.items()}
            cluster.admin().create_topic(physical(topic.name, self.tag), topic.partitions, topic.replication_factor,
                                         config)
        topics = [physical(t.name, self.tag) for t in exp.topics]
        cluster.wait_in_sync(topics)
        observer = cleanup.enter_context(ObserverProcess(cluster, self.run_dir, topics, self._groups(),
                                                         exp.observer.interval_s))

        self.phase("workers")
        workload = Workload(self.run_dir, cluster.client_bootstrap_servers, exp.semantics, self.seed, self.tag)
        self.workload = workload
        cleanup.callback(workload.stop_all)
        for worker in [*exp.workload.consumers, *exp.workload.transformers, *exp.workload.producers]:
            workload.start(self._physical(worker))

        self.phase("steady")
        time.sleep(exp.phases.steady_s)  # the experiment's own timeline: load before faults

        env = Env(cluster=cluster, events=self.events, rng=random.Random(self.seed + 1), workload=workload,
                  toxiproxy=cluster.toxiproxy)
        runner = FaultRunner(env, self._plan())
        cleanup.callback(runner.heal_all)
        self.phase("faults")
        fault_phase = time.monotonic()
        runner.run()
        time.sleep(max(0.0, exp.phases.faults_s - (time.monotonic() - fault_phase)))  # the phase's full length
        runner.heal_all()
        cluster.heal_leftovers()

        self.phase("recovery")
        time.sleep(exp.phases.recovery_s)

        self.phase("stop producers")
        for process in workload.processes:
            if isinstance(process.runtime.worker, ProducerConfig):
                process.stop()

        self.phase("drain")
        drained = drain(self.run_dir, workload, exp.phases.drain_timeout_s)
        self.events.record("phase", "drained" if drained else "drain-timeout",
                           "consumers caught up" if drained else "consumers did not catch up in time")
        checks = self._steady_checks_on_cluster(cluster, topics)
        if exp.steady_state.caught_up and (exp.workload.consumers or exp.workload.transformers):
            checks.append(SteadyCheck(name="caught-up", passed=drained, detail=(
                "consumer groups processed everything" if drained else
                f"consumer groups had not processed everything {exp.phases.drain_timeout_s:.0f} s after the "
                "producers stopped")))
        workload.stop_all()

        self.phase("final read")
        readers = workload.final_read(topics, exp.phases.final_read_timeout_s)
        if any(r.returncode != 0 for r in readers):
            raise KafkaChaosError(f"the final read failed (see {readers[0].runtime.history_dir.parent})")

        code = observer.stop()
        if code not in (0, None):
            self.events.record("observer", "exited", f"the observer died (exit code {code}); its samples end early")
        self.phase("check")
        result = check(self.run_dir, exp.semantics, dict(exp.anomalies))
        if missing := missing_partitions(result):  # lost on disk, or only in reading? The segments tell.
            self._scan_disks(cluster, missing)
            result = check(self.run_dir, exp.semantics, dict(exp.anomalies))
        write_verdict(self.run_dir, result)
        history = load(self.run_dir)
        checks += steady.from_history(exp.steady_state, history, self.events.events, has_faults=bool(runner.planned))
        if exp.steady_state.dead_letters:
            dead_letter_topics = {w.name: physical(w.dead_letter_topic, self.tag)
                                  for w in exp.workload.consumers if w.dead_letter_topic}
            checks.append(steady.dead_letters(history, cluster.bootstrap_servers, dead_letter_topics))
        self.record.steady_state = checks
        self.record.verdict = result.verdict.value
        self.record.failing = [
            {"name": i.kind.value, "count": i.count, "status": i.status,
             "example": (result.anomalies.get(i.kind.value) or [{}])[0].get("explanation", i.note)}
            for i in result.invariants if i.status in ("fail", "unknown")
        ] + [{"name": c.name, "count": 1, "status": "fail", "example": c.detail} for c in checks if not c.passed]
        self.record.outcome = decide(exp.expect == Expect.VIOLATION, result.verdict.value, checks)
        if result.verdict.value == "unknown":
            self.record.message = "the checker could not judge the run: " + "; ".join(
                f"{i.kind.value}: {i.note}" for i in result.invariants if i.status == "unknown")
        self.phase("report")

    def _scan_disks(self, cluster: LocalCluster, partitions: set[tuple[str, int]]) -> None:
        try:
            scanned, values = segments.scan({n.id: n.data_dir for n in cluster.brokers}, partitions)
            disk.write(self.run_dir, scanned, values)
        except Exception as exc:  # noqa: BLE001  (evidence is a courtesy: the verdict stands without it)
            self.events.record("disk", "scan-failed", f"reading the segment files failed: {exc!r}")
            return
        self.events.record("disk", "scanned", f"segment files of {len(partitions)} partition(s) with missing "
                           f"writes on {len({s['node'] for s in scanned})} node(s): {len(values)} values")

    def _physical(self, worker):
        """A worker config with the run's topic and group names."""
        data = rename_topics(worker.model_dump(mode="json", exclude_unset=True), self.tag)
        if data.get("group"):
            data["group"] = physical(data["group"], self.tag)
        kind = {ProducerConfig: ProducerConfig, ConsumerConfig: ConsumerConfig,
                TransformerConfig: TransformerConfig}[type(worker)]
        return kind.model_validate(data)

    def _groups(self) -> dict[str, list[str]]:
        """Consumer groups of the run (physical names) and the topics each consumes."""
        workload, groups = self.exp.workload, {}
        for worker in workload.consumers:
            if worker.group:
                groups.setdefault(physical(worker.group, self.tag), []).extend(worker.topics)
        for worker in workload.transformers:
            groups.setdefault(physical(worker.group, self.tag), []).append(worker.input)
        return {group: sorted({physical(t, self.tag) for t in topics}) for group, topics in groups.items()}

    def _plan(self):
        if self.exp.faults is None:
            return []
        schedule = type(self.exp.faults).model_validate(
            rename_topics(self.exp.faults.model_dump(mode="json", exclude_unset=True), self.tag))
        return plan(schedule, self.seed, self.exp.phases.faults_s)

    def _steady_checks_on_cluster(self, cluster: LocalCluster, topics: list[str]) -> list[SteadyCheck]:
        if not self.exp.steady_state.no_under_replicated_at_end:
            return []
        try:
            cluster.wait_in_sync(topics, timeout=60)
            return [SteadyCheck(name="no-under-replicated", passed=True, detail="every partition fully in sync")]
        except KafkaChaosError as exc:
            return [SteadyCheck(name="no-under-replicated", passed=False, detail=str(exc))]

    def _save_experiment(self) -> None:
        data = redact(self.exp.model_dump(mode="json"))
        (self.run_dir / "experiment.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        (self.run_dir / "experiment.json").write_text(json.dumps(
            {**data, "resolved": {"seed": self.seed, "tag": self.tag, "topics": {
                t.name: physical(t.name, self.tag) for t in self.exp.topics}}}, indent=2))

    def _collect_broker_logs(self, cluster: LocalCluster, marks: dict[int, int]) -> None:
        """Each node's log from the start of this run (a reused cluster's logs hold earlier runs)."""
        folder = self.run_dir / "cluster"
        folder.mkdir(exist_ok=True)
        for node in cluster.nodes.values():
            if node.log_file.exists():
                with open(node.log_file, "rb") as src, open(folder / f"node-{node.id}.log", "wb") as dst:
                    src.seek(marks.get(node.id, 0))
                    shutil.copyfileobj(src, dst)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _kafka(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
