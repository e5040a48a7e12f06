"""A SASL_SSL cluster with SCRAM-SHA-256 (the catalogue's secured experiments use SHA-512): a run
passes with each worker a principal of its own and the brokers authenticating to each other with
SHA-256; the same cluster taken as external with a SHA-256 client login passes too. Slow (`-m
slow`): a cluster of its own, about 150 s."""

from __future__ import annotations

import json

import pytest

from harness.cluster.security import ADMIN_USER, SecuritySpec
from harness.cluster.spec import ClusterSpec
from harness.rundir import RunDir
from harness.rundir.record import Outcome
from tests.integration.security_clients import PASSWORD_ENV, external_experiment, kafka_chaos
from tests.support import kept_session, short_experiment

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

HOME = dict(name="sec2", subnet=60, port_base=35000)
SHA256 = {"protocol": "sasl_ssl", "mechanism": "SCRAM-SHA-256"}


@pytest.fixture(scope="module")
def chaos(tmp_path_factory):
    with kept_session(tmp_path_factory.mktemp("sha256"), HOME) as session:
        yield session


@pytest.fixture(scope="module")
def local_run(chaos):
    """The first run: starts the module's SCRAM-SHA-256 cluster."""
    experiment = short_experiment("sasl-ssl-leader-kill", cluster={"security": SHA256}, faults=None,
                                  phases={"steady_s": 6, "faults_s": 0, "recovery_s": 0})
    return chaos.run(experiment, seed=21)


@pytest.fixture(scope="module")
def cluster(chaos, local_run):
    return chaos.pool.get(ClusterSpec(**HOME, security=SecuritySpec(**SHA256)))


def test_a_scram_sha_256_cluster_runs_each_worker_as_its_own_principal(local_run, cluster):
    assert local_run.outcome == Outcome.PASS, local_run.explain()
    assert local_run.check.stats["acked"] > 500
    config = cluster.node(1).config_file.read_text()
    assert "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256" in config
    runtime = json.loads(RunDir(local_run.run_dir).worker("p1", 1).runtime.read_text())
    login = runtime["producer_client"]
    assert login["sasl.mechanism"] == "SCRAM-SHA-256" and login["sasl.username"].endswith("-p1"), login
    assert login["sasl.password"] == "***"


def test_an_external_client_logs_in_with_scram_sha_256(cluster, tmp_path):
    security = {**SHA256, "ca_file": str(cluster.material.ca), "username": ADMIN_USER, "password_env": PASSWORD_ENV}
    out = tmp_path / "runs"
    result = kafka_chaos("run", str(external_experiment(cluster, security, tmp_path)), "--out", str(out),
                         password=cluster.material.password(ADMIN_USER))
    assert result.returncode == 0, result.stdout + result.stderr
    [run_dir] = out.glob("*-external-secured")
    assert json.loads((run_dir / "run.json").read_text())["outcome"] == "pass"
