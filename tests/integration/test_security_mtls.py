"""A mutual-TLS cluster (SSL listeners, client certificates of the cluster's CA, ACLs): it starts,
refuses clients without a certificate of its CA, and a worker logged in with a certificate of its
own writes, and goes on with a new one when it is rotated. Taken as external with a client
certificate of another CA, `run` stops with one line "authentication failed", exit 3. Slow (`-m
slow`): a leader kill with the plaintext verdict; a run as external with the admin's certificate
files."""

from __future__ import annotations

import json
import random

import pytest
from confluent_kafka import Producer

from harness.clientlog import CLIENT_LOG
from harness.cluster.security import Material, SecuritySpec
from harness.cluster.spec import ClusterSpec
from harness.events import EventLog
from harness.faults import FAULTS, Env, heal_leftovers
from harness.faults.runner import FaultRunner
from harness.faults.schedule import Planned
from harness.history.load import load_history
from harness.rundir.record import Outcome
from harness.workload.config import ProducerConfig, Semantics
from harness.workload.launcher import Workload
from tests.integration.security_clients import external_experiment, kafka_chaos
from tests.support import eventually, kept_session, short_experiment

pytestmark = pytest.mark.cluster
HOME = dict(name="secm", subnet=66, port_base=33000)
MUTUAL_TLS = {"protocol": "ssl"}


@pytest.fixture(scope="module")
def chaos(tmp_path_factory):
    with kept_session(tmp_path_factory.mktemp("mtls"), HOME) as session:
        yield session


@pytest.fixture
def cluster(chaos):
    """The module's cluster, the one its experiment runs on (started by whichever test comes first)."""
    cluster = chaos.pool.get(ClusterSpec(**HOME, security=SecuritySpec(**MUTUAL_TLS)))
    yield cluster
    heal_leftovers(cluster)


def test_only_certificates_of_the_clusters_ca_get_in(cluster, tmp_path):
    def acked(**config) -> int:
        done = []
        producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "message.timeout.ms": 4000,
                             "logger": CLIENT_LOG, **config})
        producer.produce("any", b"v", on_delivery=lambda err, msg: done.append(err is None))
        producer.flush(10)
        return sum(done)

    assert acked() == 0, "plaintext"
    ca = {"security.protocol": "SSL", "ssl.ca.location": str(cluster.material.ca)}
    assert acked(**ca) == 0, "no client certificate"
    stranger = Material.create(tmp_path / "other", ["127.0.0.1"]).issue("kc-admin")
    assert acked(**ca, **{"ssl.certificate.pem": stranger.certificate, "ssl.key.pem": stranger.key}) == 0, \
        "a certificate of another CA, even with the admin's name"
    topic = "mtls-probe"
    cluster.admin().create_topic(topic, 1, 3)
    done = []
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "logger": CLIENT_LOG,
                         **cluster.harness_client})
    producer.produce(topic, b"v", on_delivery=lambda err, msg: done.append(err))
    producer.flush(30)
    assert done == [None], "the admin's own certificate is accepted"


def test_rotating_a_certificate_hands_the_new_one_to_the_next_incarnation(cluster, tmp_path):
    topic = "mtls-rotate"
    cluster.admin().create_topic(topic, 1, 3, {"min.insync.replicas": "2"})
    events = EventLog(tmp_path / "events.jsonl")
    with Workload(tmp_path / "run", cluster.client_bootstrap_servers, Semantics.AT_LEAST_ONCE,
                  security=cluster.access) as workload:
        env = Env(cluster=cluster, events=events, rng=random.Random(1), workload=workload)
        workload.authorize([ProducerConfig(name="p1", topics=[topic])], [topic])
        cluster.wait_in_sync([topic])
        workload.start(ProducerConfig(name="p1", topics=[topic], rate=100))
        old = workload.access.credentials["p1"]
        sends = lambda: load_history(workload.run_dir).sends  # noqa: E731
        eventually(lambda: (sends()["outcome"] == "ok").sum() > 20, timeout=60)
        with FaultRunner(env, []) as runner:
            injected = runner.inject(Planned(0, 0, 0, FAULTS["rotate-credentials"].model_validate(
                {"fault": "rotate-credentials", "worker": "p1"})))
            assert injected is not None and "certificate" in injected.text, events.events
        assert workload.access.credentials["p1"].certificate != old.certificate
        eventually(lambda: ((sends()["incarnation"] == 2) & (sends()["outcome"] == "ok")).sum() > 20, timeout=60)
        workload.stop_all()
        workload.access.close()
    events.close()


@pytest.mark.slow
def test_leader_kill_under_mutual_tls_has_the_plaintext_verdict(chaos, plaintext_leader_kill):
    leader_kill = chaos.run(short_experiment("sasl-ssl-leader-kill", cluster={"security": MUTUAL_TLS}), seed=11)
    assert leader_kill.outcome == Outcome.PASS, leader_kill.explain()
    assert leader_kill.invariants == plaintext_leader_kill.invariants


def certificate_login(cluster, certificate, key) -> dict:
    return {"protocol": "ssl", "ca_file": str(cluster.material.ca), "certificate_file": str(certificate),
            "key_file": str(key)}


def test_a_certificate_of_another_ca_is_one_line_authentication_failed_exit_3(cluster, tmp_path):
    stranger = Material.create(tmp_path / "other", ["127.0.0.1"]).issue("kc-admin")
    (tmp_path / "me.pem").write_text(stranger.certificate)
    (tmp_path / "me.key").write_text(stranger.key)
    out = tmp_path / "runs"
    result = kafka_chaos("run", str(external_experiment(cluster, certificate_login(
        cluster, tmp_path / "me.pem", tmp_path / "me.key"), tmp_path)), "--out", str(out))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 3, result.stdout + result.stderr
    assert len(lines) == 1 and "authentication failed" in lines[0] and "me.pem" in lines[0], lines
    assert not out.exists(), "no run started"


@pytest.mark.slow
def test_the_cluster_taken_as_external_runs_with_a_client_certificate(cluster, tmp_path):
    login = certificate_login(cluster, cluster.material.admin_certificate, cluster.material.admin_key)
    out = tmp_path / "runs"
    result = kafka_chaos("run", str(external_experiment(cluster, login, tmp_path)), "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    [run_dir] = out.glob("*-external-secured")
    assert json.loads((run_dir / "run.json").read_text())["outcome"] == "pass"
    assert json.loads((run_dir / "verdict.json").read_text())["stats"]["acked"] > 500
    for path in (f for f in run_dir.rglob("*") if f.is_file()):
        assert b"PRIVATE KEY" not in path.read_bytes(), path
