"""kafka-chaos in a team's own pytest suite: installing kafka-chaos registers this plugin.

    from harness.pytest_plugin import assert_gate, experiments

    def test_orders_survive_a_leader_kill(chaos):
        assert_gate(chaos("chaos/leader-kill.yaml"))

    @experiments("chaos/*.yaml")
    def test_every_gate(chaos, experiment):
        assert_gate(chaos(experiment))

Fixtures: `kafka_cluster` (session-scoped: one cluster for the whole run, started before the first
test that needs it, removed at the end on every path) and `chaos` (runs an experiment on it and
returns the result; the run's seed, verdict, Kafka version, backend and report go into the JUnit
XML as properties). Options (or ini settings): `--kafka-chaos-backend`, `--kafka-chaos-nodes`,
`--kafka-chaos-kafka-version`, `--kafka-chaos-out`, `--kafka-chaos-keep-cluster`.
"""

from __future__ import annotations

import glob
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.api import ExperimentSource, Result, Session
from harness.cluster.backends import BackendName

PYTEST_CLUSTER = dict(name="pytest", subnet=11, port_base=23000)  # apart from `kafka-chaos run`'s cluster
OPTIONS = {  # option -> (ini name, default, help)
    "backend": ("kafka_chaos_backend", BackendName.LOCAL.value, "cluster backend: " + ", ".join(BackendName)),
    "nodes": ("kafka_chaos_nodes", "3", "brokers of the session cluster"),
    "kafka-version": ("kafka_chaos_kafka_version", "", "Kafka version (default: the newest known)"),
    "out": ("kafka_chaos_out", "reports", "where run directories and report.html go"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kafka-chaos", "chaos experiments against real Kafka, judged message by message")
    for option, (ini, default, text) in OPTIONS.items():
        group.addoption(f"--kafka-chaos-{option}", default=None, help=f"{text} [ini: {ini}; default: {default}]")
        parser.addini(ini, text, default=default)
    group.addoption("--kafka-chaos-keep-cluster", action="store_true", default=False,
                    help="leave the cluster running after the session (`kafka-chaos cluster down` removes it)")


def _setting(config: pytest.Config, option: str) -> str:
    given = config.getoption(f"--kafka-chaos-{option}")
    return str(given) if given is not None else str(config.getini(OPTIONS[option][0]))


class ChaosCluster:
    """The session's cluster, and the session that runs experiments on it."""

    def __init__(self, session: Session, nodes: int):
        self.session, self.nodes = session, nodes

    @property
    def backend(self):
        """The running cluster (its capabilities, admin client, nodes)."""
        return self.session.cluster

    @property
    def bootstrap_servers(self) -> str:
        return self.backend.bootstrap_servers


@pytest.fixture(scope="session")
def kafka_cluster(pytestconfig: pytest.Config):
    backend = BackendName(_setting(pytestconfig, "backend"))
    session = Session(out=Path(_setting(pytestconfig, "out")), backend=backend,
                      keep_cluster=pytestconfig.getoption("--kafka-chaos-keep-cluster"),
                      kafka_version=_setting(pytestconfig, "kafka-version") or None, home=PYTEST_CLUSTER)
    nodes = int(_setting(pytestconfig, "nodes"))
    try:
        session.start(nodes)
        yield ChaosCluster(session, nodes)
    finally:
        session.close()  # also on a failed test and on Ctrl-C: pytest tears fixtures down then too


@pytest.fixture
def chaos(kafka_cluster: ChaosCluster, record_property) -> Callable[..., Result]:
    """`chaos(experiment, seed=None)`: run an experiment (a YAML path, text, dict or Experiment)
    on the session's cluster and return its result."""
    def run(experiment: ExperimentSource, seed: int | None = None) -> Result:
        result = kafka_cluster.session.run(experiment, seed)
        for name, value in result.record.properties().items():
            record_property(name, value)
        return result

    return run


def experiments(*patterns: str):
    """Parametrize a test's `experiment` argument over experiment files (glob patterns), one
    test per file, named after it."""
    files = sorted({Path(p) for pattern in patterns for p in glob.glob(pattern, recursive=True)})
    if not files:
        raise pytest.UsageError(f"no experiment file matches {', '.join(patterns)}")
    return pytest.mark.parametrize("experiment", files, ids=[f.stem for f in files])


def assert_gate(result: Result) -> None:
    """Fail the test unless the run met its experiment's expectation, saying what a person needs:
    the failed invariants with counts, a few anomalies with their evidence, the seed and the
    replay command, and where the report is."""
    __tracebackhide__ = True
    if not result.passed:
        pytest.fail(result.explain(), pytrace=False)
