"""Running one experiment end to end: its phases are a list of named steps, each in the event log,
all in one ExitStack:

    provision -> topics -> [mirror] -> [database] -> [streams app] -> workers -> steady -> faults ->
    recovery -> stop producers -> drain -> [mirror settle] -> [dump database] -> final read -> check ->
    report

(the database steps only when the workload has sinks: a PostgreSQL of the run's own; the streams
app step only with Kafka Streams workers: the application built, or taken from the cache; the
mirror steps only with `mirror:`: a replica cluster and MirrorMaker 2, harness.mirror)

Whatever fails on the way (or Ctrl-C, or SIGTERM) still heals the faults and stops the workers;
the cluster pool tears the cluster down unless it is kept. A run that could not judge the
system is a harness error (exit 3), never a pass.
"""

from __future__ import annotations

import json
import logging
import random
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import yaml

from harness.checker.check import check, write_verdict
from harness.checker.model import AnomalyKind, CheckResult
from harness.cluster import segments
from harness.cluster.backend import Backend, Capability
from harness.cluster.backends import BackendName
from harness.errors import EnvironmentProblem, KafkaChaosError
from harness.events import EventLog
from harness.experiment.model import Expect
from harness.faults import Env, heal_leftovers
from harness.faults.runner import FaultRunner
from harness.history import disk
from harness.history.load import load_history
from harness.observe.observer import ObserverProcess
from harness.orchestrator import steady
from harness.orchestrator.drain import drain
from harness.orchestrator.fold import fold
from harness.orchestrator.plan import RunPlan
from harness.orchestrator.pool import ClusterPool
from harness.redact import redact
from harness.report.html import write_report
from harness.rundir import WorkerDir
from harness.rundir.record import Outcome, RunRecord, SteadyCheck
from harness.workload.config import ProducerConfig
from harness.workload.launcher import Workload

log = logging.getLogger(__name__)
WATCH_EVERY_S = 0.2


class Run:
    def __init__(self, plan: RunPlan, pool: ClusterPool, progress: Callable[[str], object] | None = None):
        exp = plan.experiment
        self.plan, self.exp, self.run, self.pool = plan, exp, plan.run, pool
        self.events = EventLog.in_run(plan.run)
        self.progress = progress or (lambda phase: None)
        self.record = RunRecord(experiment=exp.name, source=plan.source, run_dir=plan.run.path,
                                description=exp.description, scenarios=exp.scenarios, semantics=exp.semantics.value,
                                expect=exp.expect.value, seed=plan.seed, backend=str(exp.cluster.backend),
                                started_wall=time.time())
        self.cluster: Backend | None = None
        self.workload: Workload | None = None
        self.observer: ObserverProcess | None = None
        self.runner: FaultRunner | None = None
        self.checks: list[SteadyCheck] = []
        self.mirror = None  # harness.mirror.phase.Mirror, for a mirrored run

    def steps(self) -> list[tuple[str, Callable[[ExitStack], None]]]:
        """The phases, in order."""
        database = [("database", self.start_database)] if self.plan.sinks else []
        dump = [("dump database", self.dump_database)] if self.plan.sinks else []
        streams = [("streams app", self.build_streams_app)] if self.plan.streams else []
        mirror = [("mirror", self.start_mirror)] if self.exp.mirror else []
        settle = [("mirror settle", self.settle_mirror)] if self.exp.mirror else []
        return [("provision", self.provision), ("topics", self.create_topics), *mirror, *database, *streams,
                ("workers", self.start_workers), ("steady", self.steady), ("faults", self.inject_faults),
                ("recovery", self.recover), ("stop producers", self.stop_producers), ("drain", self.drain), *settle,
                *dump, ("final read", self.final_read), ("check", self.judge)]

    def execute(self) -> RunRecord:
        started = time.monotonic()
        self._save_experiment()
        try:
            with ExitStack() as cleanup:
                for name, step in self.steps():
                    self.phase(name)
                    step(cleanup)
            self.phase("report")
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

    def phase(self, name: str) -> None:
        self.events.record("phase", name, name)
        self.progress(name)

    # ---- the steps ----------------------------------------------------------------------

    def provision(self, cleanup: ExitStack) -> None:
        cluster = self.cluster = self.pool.get(self.plan.cluster)
        self.record.kafka_version = cluster.kafka_version
        pids = {i: cluster.node(i).pid for i in cluster.node_ids} if Capability.PROCESSES in cluster.capabilities \
            else None
        self.events.record("cluster", "ready", f"Kafka {cluster.kafka_version}, cluster id {cluster.cluster_id}",
                           cluster_id=cluster.cluster_id, pids=pids)
        cleanup.callback(self._collect_broker_logs, cluster, cluster.log_marks())

    def create_topics(self, cleanup: ExitStack) -> None:
        # On a secured cluster each worker's principal and ACLs come first: the topics' creation
        # then proves every broker knows them (metadata is applied in order).
        self.workload = Workload(self.run.path, self.cluster.client_bootstrap_servers, self.exp.semantics,
                                 self.plan.seed, self.plan.tag, security=self.cluster.access,
                                 client=self.cluster.harness_client)
        if self.workload.access:
            cleanup.callback(self.workload.access.close)
        self.workload.authorize(self.plan.workers, [t.name for t in self.plan.topics])
        admin = self.cluster.admin()
        for topic in self.plan.topics:
            admin.create_topic(topic.name, topic.partitions, topic.replication_factor,
                               {k: _kafka(v) for k, v in topic.config.items()})
        topics = [t.name for t in self.plan.topics]
        self.cluster.wait_in_sync(topics)
        self.observer = cleanup.enter_context(ObserverProcess(
            BackendName(self.exp.cluster.backend), self.cluster.name, self.run.path, topics, self.plan.groups,
            self.exp.observer.interval_s))

    def start_mirror(self, cleanup: ExitStack) -> None:
        """The second data centre: a replica cluster and MirrorMaker, stopped on every way out."""
        from harness.mirror.phase import Mirror

        if self.exp.mirror.replica.name == self.cluster.name:
            raise EnvironmentProblem(f"the mirror's replica cluster needs a name of its own, not {self.cluster.name!r}")
        self.mirror = Mirror(self.exp.mirror, self.run, self.events)
        self.mirror.start(cleanup, self.cluster.client_bootstrap_servers, self.cluster.kafka_version,
                          [t.name for t in self.plan.topics], self.plan.groups)

    def settle_mirror(self, cleanup: ExitStack) -> None:
        """MirrorMaker copies what it has not yet; each group fails over; the replica is dumped."""
        sends = load_history(self.run).sends
        acked = sends[(sends["outcome"] == "ok") & (sends["txn"] == 0)]  # an aborted transaction's are not owed
        self.mirror.settle(set(zip(acked["producer"].tolist(), acked["seq"].tolist())),
                           self.exp.phases.drain_timeout_s)

    def start_database(self, cleanup: ExitStack) -> None:
        """The run's own PostgreSQL, for its sinks; stopped (and its files removed) on every way out."""
        from harness.database import table
        from harness.database.postgres import Postgres

        self.run.database.mkdir(exist_ok=True)
        database = cleanup.enter_context(Postgres(self.cluster.name, self.run.database_log))
        table.create(database.dsn)
        self.workload.database = database
        self.events.record("database", "ready", f"PostgreSQL ready (pid {database.pid})", pid=database.pid)

    def dump_database(self, cleanup: ExitStack) -> None:
        """What the sinks wrote, into the run directory (the sinks stopped at the end of the drain)."""
        from harness.database import table

        self.workload.database.start()  # a kill-database fault healed late, or never: the data is on disk
        rows = table.dump(self.workload.database.dsn, self.run)
        self.events.record("database", "dumped", f"{rows} rows of the sinks' table")

    def build_streams_app(self, cleanup: ExitStack) -> None:
        """The Kafka Streams application at the cluster's version (built once, then cached)."""
        from harness.cluster.distribution import DEFAULT_VERSION
        from harness.workload import streams

        self.workload.streams_app = streams.obtain(self.cluster.kafka_version or DEFAULT_VERSION)

    def start_workers(self, cleanup: ExitStack) -> None:
        cleanup.callback(self.workload.stop_all)
        for worker in self.plan.workers:
            self.workload.start(worker)

    def steady(self, cleanup: ExitStack) -> None:
        self.wait(self.exp.phases.steady_s)  # the experiment's own timeline: load before faults

    def inject_faults(self, cleanup: ExitStack) -> None:
        env = Env(cluster=self.cluster, events=self.events, rng=random.Random(self.plan.seed), workload=self.workload,
                  mirror=self.mirror.maker if self.mirror else None)
        self.runner = FaultRunner(env, self.plan.faults, self.plan.seed, watch=self.watch)
        cleanup.callback(self.runner.heal_all)
        started = time.monotonic()
        self.runner.run()
        self.wait(self.exp.phases.faults_s - (time.monotonic() - started))  # the phase's full length
        self.runner.heal_all()
        heal_leftovers(self.cluster)

    def recover(self, cleanup: ExitStack) -> None:
        self.wait(self.exp.phases.recovery_s)

    def stop_producers(self, cleanup: ExitStack) -> None:
        for process in self.workload.processes:
            if isinstance(process.runtime.worker, ProducerConfig):
                process.stop()

    def drain(self, cleanup: ExitStack) -> None:
        exp = self.exp
        drained = drain(self.run.path, self.workload, exp.phases.drain_timeout_s)
        self.events.record("phase", "drained" if drained else "drain-timeout",
                           "consumers caught up" if drained else "consumers did not catch up in time")
        self.checks = self._in_sync_at_end()
        if exp.steady_state.caught_up and (exp.workload.consumers or exp.workload.transformers or exp.workload.sinks
                                            or exp.workload.streams):
            self.checks.append(SteadyCheck(name="caught-up", passed=drained, detail=(
                "consumer groups processed everything" if drained else
                f"consumer groups had not processed everything {exp.phases.drain_timeout_s:.0f} s after the "
                "producers stopped")))
        self.workload.stop_all()

    def final_read(self, cleanup: ExitStack) -> None:
        readers = self.workload.final_read([t.name for t in self.plan.topics], self.exp.phases.final_read_timeout_s)
        if any(r.returncode != 0 for r in readers):
            raise KafkaChaosError(f"the final read failed (see {readers[0].runtime.history_dir.parent})")
        code = self.observer.stop()
        if code not in (0, None):
            self.events.record("observer", "exited", f"the observer died (exit code {code}); its samples end early")

    def judge(self, cleanup: ExitStack) -> None:
        exp = self.exp
        result = check(self.run, exp.semantics, dict(exp.anomalies))
        if missing := missing_partitions(result):  # lost on disk, or only in reading? The segments tell.
            self._scan_disks(missing)
            result = check(self.run, exp.semantics, dict(exp.anomalies))
        write_verdict(self.run, result)
        history = load_history(self.run)
        checks = self.checks + steady.from_history(exp.steady_state, history, self.events.events,
                                                   has_faults=bool(self.plan.faults))
        if exp.steady_state.dead_letters:
            checks.append(steady.dead_letters(history, {"bootstrap.servers": self.cluster.bootstrap_servers,
                                                        **self.cluster.harness_client}, self.plan.dead_letter_topics))
        fold(self.record, result, checks, exp.expect == Expect.VIOLATION)

    # ---- helpers ------------------------------------------------------------------------

    def wait(self, seconds: float) -> None:
        """Let `seconds` pass, watching the workers."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.watch()
            time.sleep(min(WATCH_EVERY_S, left))
        self.watch()

    def watch(self) -> None:
        """Stop the run when a worker's credentials were refused: nothing it would do could be judged."""
        refused = self.workload.failed_authentication() if self.workload else None
        if refused:
            raise EnvironmentProblem(f"worker {refused.name}: authentication failed (the cluster refused its "
                                     f"credentials; see {WorkerDir(refused.runtime.history_dir).log})")

    def _in_sync_at_end(self) -> list[SteadyCheck]:
        if not self.exp.steady_state.no_under_replicated_at_end:
            return []
        try:
            self.cluster.wait_in_sync([t.name for t in self.plan.topics], timeout=60)
            return [SteadyCheck(name="no-under-replicated", passed=True, detail="every partition fully in sync")]
        except KafkaChaosError as exc:
            return [SteadyCheck(name="no-under-replicated", passed=False, detail=str(exc))]

    def _scan_disks(self, partitions: set[tuple[str, int]]) -> None:
        try:
            with tempfile.TemporaryDirectory(prefix="kafka-chaos-segments-") as scratch:
                data_dirs = self.cluster.segment_dirs(sorted(partitions), Path(scratch))
                if not data_dirs:
                    self.events.record("disk", "unavailable", f"backend {self.cluster.name} cannot read the "
                                       "brokers' segment files")
                    return
                scanned, values = segments.scan(data_dirs, partitions)
            disk.write(self.run, scanned, values)
        except Exception as exc:  # noqa: BLE001  (evidence is a courtesy: the verdict stands without it)
            self.events.record("disk", "scan-failed", f"reading the segment files failed: {exc!r}")
            return
        self.events.record("disk", "scanned", f"segment files of {len(partitions)} partition(s) with missing "
                           f"writes on {len({s['node'] for s in scanned})} node(s): {len(values)} values")

    def _harness_error(self, message: str) -> None:
        self.record.outcome, self.record.message = Outcome.HARNESS_ERROR, message
        self.events.record("phase", "harness-error", message)

    def _write_report(self) -> None:
        """The HTML report; a report that fails to render never changes the run's outcome."""
        try:
            self.record.report = write_report(self.run)
        except Exception:  # noqa: BLE001
            log.exception("could not write the report of %s", self.run)

    def _save_experiment(self) -> None:
        data = redact(self.exp.model_dump(mode="json"))
        self.run.experiment_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
        self.run.experiment_json.write_text(json.dumps({**data, "resolved": self.plan.resolved()}, indent=2))

    def _collect_broker_logs(self, cluster: Backend, marks: dict[int, int]) -> None:
        """Each node's log from the start of this run (a reused cluster's logs hold earlier runs),
        copied from wherever the backend keeps it."""
        self.run.broker_logs.mkdir(exist_ok=True)
        cluster.copy_logs(marks, self.run.broker_log)


def missing_partitions(result: CheckResult) -> set[tuple[str, int]]:
    """The partitions of the acknowledged writes no reader saw (lost-write, unseen)."""
    found = set()
    for kind in (AnomalyKind.LOST_WRITE, AnomalyKind.UNSEEN):
        for anomaly in result.anomalies.get(kind.value, []):
            partition = anomaly.get("acked_partition", anomaly.get("partition"))
            if anomaly.get("topic") is not None and partition is not None:
                found.add((str(anomaly["topic"]), int(partition)))
    return found


def _kafka(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
