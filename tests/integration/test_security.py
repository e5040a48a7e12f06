"""A SASL_SSL cluster (SCRAM-SHA-512, ACLs) shared by this module: it refuses plaintext and
wrong-password clients, stops a run whose worker has a wrong password, and runs the ACL-revocation
experiment end to end (refused sends are failed, not lost; the group recovers). Taken as someone
else's (`backend: external` with a client `security:` block, the password in a variable) a run
passes, and a wrong password is one line "authentication failed", exit 3, before any run. No
password or private key ends up in a run directory or a JUnit file. Slow (`-m slow`): a leader
kill with the plaintext verdict, and revoke-acl and rotate-credentials in effect and healed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer

from harness.clientlog import CLIENT_LOG
from harness.cluster import security as security_module
from harness.cluster.security import ADMIN_USER, BROKER_USER, Credential, SecuritySpec
from harness.cluster.spec import ClusterSpec
from harness.faults import heal_leftovers
from harness.history.load import load_history
from harness.report import junit
from harness.rundir.record import Outcome
from harness.workload.config import ConsumerConfig, ProducerConfig, Semantics
from harness.workload.launcher import Workload
from tests.integration.security_clients import PASSWORD_ENV, external_experiment, kafka_chaos
from tests.support import eventually, fault_env, kept_session, run_fault, settled
from tests.support import short_experiment as short

pytestmark = pytest.mark.cluster

HOME = dict(name="secs", subnet=64, port_base=31000)
SECURED = SecuritySpec(protocol="sasl_ssl", mechanism="SCRAM-SHA-512")  # as the catalogue experiments ask
WRONG = "Wr0ng-pa55word-for-p1"
PASSWORDS: list[str] = []  # every password the harness made while this module ran


@pytest.fixture(scope="module", autouse=True)
def remember_passwords():
    made = security_module.new_password

    def remembered() -> str:
        PASSWORDS.append(made())
        return PASSWORDS[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(security_module, "new_password", remembered)
        yield


@pytest.fixture(scope="module")
def chaos(tmp_path_factory):
    with kept_session(tmp_path_factory.mktemp("secured"), HOME) as session:
        yield session


@pytest.fixture(scope="module")
def results(chaos) -> list:
    return []


@pytest.fixture(scope="module")
def run_dirs() -> list[Path]:
    """Run directories of runs made by the CLI (results holds the API's)."""
    return []


@pytest.fixture(scope="module")
def leader_kill(chaos, results):
    """The leader kill under SASL_SSL: the first run, which starts the module's cluster."""
    result = chaos.run(short("sasl-ssl-leader-kill"), seed=11)
    results.append(result)
    return result


@pytest.fixture
def cluster(chaos):
    """The module's cluster, the one its experiments run on (started by whichever test comes first)."""
    cluster = chaos.pool.get(ClusterSpec(**HOME, security=SECURED))
    yield cluster
    heal_leftovers(cluster)


@pytest.fixture
def env(cluster, tmp_path):
    with fault_env(cluster, tmp_path) as env:
        yield env


@pytest.mark.slow
def test_leader_kill_under_sasl_ssl_has_the_plaintext_verdict(leader_kill, plaintext_leader_kill):
    assert leader_kill.outcome == Outcome.PASS, leader_kill.explain()
    assert plaintext_leader_kill.outcome == Outcome.PASS, plaintext_leader_kill.explain()
    assert leader_kill.invariants == plaintext_leader_kill.invariants
    killed = [e for e in (leader_kill.run_dir / "events.jsonl").read_text().splitlines() if '"kind": "inject"' in e]
    assert len(killed) == 1 and "SIGKILL" in killed[0]


def test_plaintext_and_wrong_password_clients_are_refused(cluster):
    def errors(**config) -> tuple[set[str], int]:
        seen, acked = set(), []
        producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "message.timeout.ms": 4000,
                             "logger": CLIENT_LOG, "error_cb": lambda e: seen.add(e.name()), **config})
        producer.produce("any", b"v", on_delivery=lambda err, msg: acked.append(err is None))
        producer.flush(10)
        return seen, sum(acked)

    seen, acked = errors()
    assert acked == 0 and seen & {"_ALL_BROKERS_DOWN", "_TRANSPORT"}, seen
    seen, acked = errors(**{**cluster.harness_client, "sasl.username": "kc-nobody", "sasl.password": WRONG})
    assert acked == 0 and "_AUTHENTICATION" in seen, seen
    wrong = Credential(ADMIN_USER, password=WRONG)
    address = cluster.brokers[0].layout.broker_address
    assert not cluster.access.authenticates(wrong, address)
    assert cluster.access.authenticates(Credential(ADMIN_USER, password=cluster.material.password(ADMIN_USER)),
                                        address)


def test_a_worker_with_a_wrong_password_stops_the_run_at_once_with_exit_3(chaos, results):
    experiment = short("sasl-ssl-leader-kill", faults=None)
    experiment["phases"] = {"steady_s": 60, "faults_s": 0, "recovery_s": 0}
    experiment["workload"]["producers"][0]["client"] = {"sasl.password": WRONG}
    result = chaos.run(experiment, seed=12)
    results.append(result)
    line = result.record.summary_line().splitlines()[0]
    assert result.exit_code == 3 and "worker p1: authentication failed" in line, line
    events = [e for e in (result.run_dir / "events.jsonl").read_text().splitlines() if '"source": "phase"' in e]
    assert '"steady"' in events[-2] and '"harness-error"' in events[-1], "stopped within the steady phase"
    started = json.loads(events[-2])["mono"]
    # Well inside the 60 s steady phase (11.6 s seen on a loaded 2-core machine): not after it, nor a timeout.
    assert (json.loads(events[-1])["mono"] - started) / 1e9 < 30, "seen while the steady phase runs, not at its end"


@pytest.mark.slow
def test_revoke_acl_refuses_writes_stops_reads_and_heals(cluster, env, tmp_path):
    topic = f"acl-{int(time.time())}"
    cluster.admin().create_topic(topic, 2, 3, {"min.insync.replicas": "2"})
    with Workload(tmp_path / "run", cluster.client_bootstrap_servers, Semantics.AT_LEAST_ONCE,
                  security=cluster.access) as workload:
        env.workload = workload
        workload.authorize([ProducerConfig(name="p1", topics=[topic]), ConsumerConfig(name="c1", topics=[topic],
                                                                                      group="g")], [topic])
        cluster.wait_in_sync([topic])
        workload.start(ConsumerConfig(name="c1", topics=[topic], group="g"))
        workload.start(ProducerConfig(name="p1", topics=[topic], rate=100))
        sends = lambda: load_history(workload.run_dir).sends  # noqa: E731
        eventually(lambda: (sends()["outcome"] == "ok").sum() > 50, timeout=60)
        with run_fault(env, {"fault": "revoke-acl", "worker": "p1", "operation": "write"}):
            eventually(lambda: (sends()["error"] == "TOPIC_AUTHORIZATION_FAILED").sum() > 20, timeout=30)
            healed_at = time.monotonic_ns()
        eventually(lambda: ((sends()["outcome"] == "ok") & (sends()["invoke_mono"] > healed_at)).sum() > 50, timeout=60)
        history = sends()
        refused = history[history["error"] == "TOPIC_AUTHORIZATION_FAILED"]
        assert (refused["outcome"] == "fail").all(), "refused sends were never written: failed, not indeterminate"

        reads = lambda: load_history(workload.run_dir).reads  # noqa: E731
        eventually(lambda: len(reads()) > 100, timeout=60)
        with run_fault(env, {"fault": "revoke-acl", "worker": "c1", "operation": "read"}):
            # Once what it had fetched is processed, a consumer without read makes no progress
            # (at 100 records/s produced, a reading one never stays still for 4 s).
            stalled = eventually(settled(lambda: len(reads()), 4), timeout=60)
        eventually(lambda: len(reads()) > stalled + 100, timeout=60)
        errors = load_history(workload.run_dir).events
        assert "TOPIC_AUTHORIZATION_FAILED" in set(errors[errors["kind"] == "error"]["detail"].astype(str))
        user = workload.access.user("c1")
        granted = sorted(workload.access.acls["c1"])
        # ACL changes reach the broker answering DescribeAcls through the metadata log: wait for them.
        eventually(lambda: cluster.access.acls_of(user) == granted, timeout=30)  # every ACL is back
        # A revocation whose heal never ran (a dead harness) is restored by the sweep.
        run_fault(env, {"fault": "revoke-acl", "worker": "c1", "operation": "read"}).active.clear()
        eventually(lambda: len(cluster.access.acls_of(user)) == len(granted) - 1, timeout=30)
        assert any("restored" in done for done in heal_leftovers(cluster))
        eventually(lambda: cluster.access.acls_of(user) == granted, timeout=30)
        workload.stop_all()
        workload.access.close()
        eventually(lambda: cluster.access.acls_of(user) == [], timeout=30)  # a run's principals leave with it


@pytest.mark.slow
def test_rotate_credentials_refuses_the_old_password_and_the_next_incarnation_works(cluster, env, tmp_path):
    topic = f"rot-{int(time.time())}"
    cluster.admin().create_topic(topic, 1, 3, {"min.insync.replicas": "2"})
    with Workload(tmp_path / "run", cluster.client_bootstrap_servers, Semantics.AT_LEAST_ONCE,
                  security=cluster.access) as workload:
        env.workload = workload
        workload.authorize([ProducerConfig(name="p1", topics=[topic])], [topic])
        cluster.wait_in_sync([topic])
        workload.start(ProducerConfig(name="p1", topics=[topic], rate=100))
        old = workload.access.credentials["p1"]
        sends = lambda: load_history(workload.run_dir).sends  # noqa: E731
        eventually(lambda: (sends()["outcome"] == "ok").sum() > 20, timeout=60)
        with run_fault(env, {"fault": "rotate-credentials", "worker": "p1"}) as runner:
            assert "SCRAM password" in runner.active[0][1].text
        new = workload.access.credentials["p1"]
        address = cluster.brokers[0].layout.broker_address
        assert new.password != old.password
        assert not cluster.access.authenticates(old, address) and cluster.access.authenticates(new, address)
        eventually(lambda: ((sends()["incarnation"] == 2) & (sends()["outcome"] == "ok")).sum() > 20, timeout=60)
        workload.stop_all()
        assert [p.returncode for p in workload.processes] == [0, 0]
        workload.access.close()


def test_acl_revocation_experiment_recovers_without_loss(chaos, results):
    result = chaos.run(short("acl-revocation-consumer-group", phases={"steady_s": 3, "faults_s": 16,
                                                                     "recovery_s": 4}), seed=13)
    results.append(result)
    assert result.outcome == Outcome.PASS, result.explain()
    stats = result.check.stats
    assert stats["failures"].get("TOPIC_AUTHORIZATION_FAILED", 0) > 0 and stats["failed"] > 0
    assert "TOPIC_AUTHORIZATION_FAILED" in stats["client_errors"]
    assert "TOPIC_AUTHORIZATION_FAILED" in result.report.read_text()


def external_login(cluster) -> dict:
    """What the owner of a cluster would hand out: its CA, a user, where the password is."""
    return {"protocol": "sasl_ssl", "mechanism": "SCRAM-SHA-512", "ca_file": str(cluster.material.ca),
            "username": ADMIN_USER, "password_env": PASSWORD_ENV}


def test_the_cluster_taken_as_external_runs_with_a_client_login(cluster, run_dirs, tmp_path):
    """The harness's admin, its metadata probes, the observer and every worker log in as the one
    user the `security:` block names; a killed consumer comes back logged in."""
    out = tmp_path / "runs"
    result = kafka_chaos("run", str(external_experiment(cluster, external_login(cluster), tmp_path)),
                         "--out", str(out), "--junit", str(tmp_path / "junit.xml"),
                         password=cluster.material.password(ADMIN_USER))
    assert result.returncode == 0, result.stdout + result.stderr
    [run_dir] = out.glob("*-external-secured")
    run_dirs.extend([run_dir, tmp_path / "junit.xml"])
    assert json.loads((run_dir / "run.json").read_text())["outcome"] == "pass"
    assert json.loads((run_dir / "verdict.json").read_text())["stats"]["acked"] > 500
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["fault"] for e in events if e["source"] == "fault" and e["kind"] == "inject"] == ["kill-worker"]
    samples = [json.loads(line) for line in (run_dir / "observer" / "samples.jsonl").read_text().splitlines()]
    assert any(s["partitions"] and s["groups"] and not s["errors"] for s in samples), \
        "the observer logged in: its probes saw leaders and its admin the group"
    assert PASSWORD_ENV in (run_dir / "experiment.yaml").read_text(), "where the password is, kept"


def test_a_wrong_external_password_is_one_line_authentication_failed_exit_3(cluster, tmp_path):
    out = tmp_path / "runs"
    result = kafka_chaos("run", str(external_experiment(cluster, external_login(cluster), tmp_path)),
                         "--out", str(out), password=WRONG)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 3, result.stdout + result.stderr
    assert len(lines) == 1 and "authentication failed" in lines[0] and f"user {ADMIN_USER}" in lines[0], lines
    assert WRONG not in result.stderr + result.stdout
    assert not out.exists(), "no run started"


def test_no_password_or_private_key_in_any_run_directory_or_junit_file(chaos, results, run_dirs, cluster, tmp_path):
    assert results and run_dirs, "the module's runs come first"
    junit_file = tmp_path / "junit.xml"
    junit.write([r.record for r in results], junit_file)
    secrets = [s.encode() for s in (*PASSWORDS, WRONG, cluster.material.password(BROKER_USER),
                                    cluster.material.password(ADMIN_USER))]
    assert len(PASSWORDS) >= 2
    files = [junit_file, *(f for r in results for f in r.run_dir.rglob("*") if f.is_file()),
             *(f for d in run_dirs for f in ([d] if d.is_file() else d.rglob("*")) if f.is_file())]
    assert len(files) > 20
    for path in files:
        data = path.read_bytes()
        assert b"PRIVATE KEY" not in data, path
        assert not [s for s in secrets if s in data], path
