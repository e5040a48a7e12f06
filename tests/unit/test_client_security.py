"""`security:` of the ssh and external backends without a cluster: what the model refuses (one line
naming the field), the client properties it makes for the admin, the probes and every worker, the
faults it still refuses, and that its password reaches no file. The login itself runs on a real
cluster in tests/integration/test_security_clients.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.cluster.client_security import ClientSecurity
from harness.cluster.external import ExternalCluster
from harness.cluster.external_config import ExternalClusterConfig
from harness.cluster.ssh import SshCluster
from harness.cluster.ssh_config import SshClusterConfig
from harness.errors import EnvironmentProblem, UsageError
from harness.experiment.loader import parse
from harness.redact import redact
from harness.workload.config import Clients, ProducerConfig, Runtime, Semantics
from harness.workload.launcher import Workload

CATALOGUE = Path(__file__).resolve().parents[2] / "harness" / "catalogue"
EXTERNAL = {"backend": "external", "bootstrap": "198.18.90.11:9092"}
SSH = {"backend": "ssh", "hosts": [{"address": f"198.18.90.{i}"} for i in (11, 12, 13)],
       "broker": {"start": ["/s"], "pid_file": "/p", "data_dirs": ["/d"], "log_file": "/l"}}
PASSWORD = "Zq9-client-secret"


def experiment(cluster: dict, security: dict, source: str = "leader-kill-acks-all") -> str:
    data = yaml.safe_load((CATALOGUE / f"{source}.yaml").read_text())
    data |= {"cluster": {**cluster, "security": security}, "faults": None}
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture
def files(tmp_path, monkeypatch) -> dict[str, str]:
    monkeypatch.setenv("KC_TEST_PASSWORD", PASSWORD)
    made = {name: tmp_path / name for name in ("ca.pem", "me.pem", "me.key", "password")}
    for path in made.values():
        path.write_text("x\n")
    made["password"].write_text(f"{PASSWORD}\nignored\n")
    return {name: str(path) for name, path in made.items()}


@pytest.mark.parametrize("security, field, problem", [
    ({"protocol": "sasl_ssl", "username": "u", "password": PASSWORD}, "cluster.security",
     "a password is never written in the experiment"),
    ({"protocol": "sasl_ssl", "username": "u"}, "cluster.security", "exactly one of password_env and password_file"),
    ({"protocol": "sasl_ssl", "password_env": "KC_TEST_PASSWORD"}, "cluster.security", "sasl_ssl needs username"),
    ({"protocol": "sasl_ssl", "username": "u", "password_env": "KC_UNSET_VARIABLE"},
     "cluster.security.password_env", "environment variable KC_UNSET_VARIABLE is not set"),
    ({"protocol": "sasl_ssl", "username": "u", "password_file": "/nonexistent/pw"},
     "cluster.security.password_file", "no such file: /nonexistent/pw"),
    ({"protocol": "sasl_ssl", "username": "u", "password_env": "KC_TEST_PASSWORD", "ca_file": "/nonexistent/ca"},
     "cluster.security.ca_file", "no such file: /nonexistent/ca"),
    ({"protocol": "sasl_ssl", "username": "u", "password_env": "KC_TEST_PASSWORD", "mechanism": "GSSAPI"},
     "cluster.security.mechanism", "SCRAM-SHA-512"),
    ({"protocol": "ssl", "certificate_file": "/etc/hostname"}, "cluster.security",
     "needs certificate_file and key_file"),
    ({"protocol": "ssl", "certificate_file": "/etc/hostname", "key_file": "/nonexistent/key"},
     "cluster.security.key_file", "no such file: /nonexistent/key"),
    ({"protocol": "plaintext"}, "cluster.security.protocol", "'sasl_ssl' or 'ssl'"),
])
@pytest.mark.parametrize("cluster", [EXTERNAL, SSH], ids=["external", "ssh"])
def test_bad_security_is_one_line_naming_the_file_and_field(files, cluster, security, field, problem):
    with pytest.raises(UsageError) as refused:
        parse(experiment(cluster, security), "exp.yaml", runnable=True)
    message = str(refused.value)
    assert "\n" not in message and message.startswith("exp.yaml:") and f" {field}: " in message, message
    assert problem in message, message
    assert PASSWORD not in message


def test_files_and_variables_are_checked_only_for_a_run_here(files):
    """Listing or taking up a recorded cluster elsewhere needs neither the files nor the variable."""
    security = {"protocol": "sasl_ssl", "username": "u", "password_env": "KC_UNSET_VARIABLE",
                "ca_file": "/nonexistent/ca"}
    assert parse(experiment(EXTERNAL, security)).cluster.security.ca_file == "/nonexistent/ca"
    with pytest.raises(UsageError, match="no such file"):
        parse(experiment(EXTERNAL, security), runnable=True)


def test_sasl_ssl_properties_read_the_password_from_a_variable_or_a_file(files, monkeypatch):
    by_env = ClientSecurity(protocol="sasl_ssl", mechanism="SCRAM-SHA-256", username="chaos",
                            password_env="KC_TEST_PASSWORD", ca_file=files["ca.pem"])
    assert by_env.librdkafka() == {"security.protocol": "SASL_SSL", "ssl.ca.location": files["ca.pem"],
                                   "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": "chaos",
                                   "sasl.password": PASSWORD}
    assert by_env.login().scram == ("SCRAM-SHA-256", "chaos", PASSWORD)
    by_file = ClientSecurity(protocol="sasl_ssl", username="chaos", password_file=files["password"])
    assert by_file.librdkafka()["sasl.password"] == PASSWORD, "the file's first line"
    assert "ssl.ca.location" not in by_file.librdkafka(), "no ca_file: this machine's trusted CAs"
    monkeypatch.delenv("KC_TEST_PASSWORD")
    with pytest.raises(EnvironmentProblem, match="KC_TEST_PASSWORD .* is not set"):
        by_env.librdkafka()


def test_mutual_tls_properties_name_the_certificate_and_key_files(files):
    mtls = ClientSecurity(protocol="ssl", ca_file=files["ca.pem"], certificate_file=files["me.pem"],
                          key_file=files["me.key"])
    assert mtls.librdkafka() == {"security.protocol": "SSL", "ssl.ca.location": files["ca.pem"],
                                 "ssl.certificate.location": files["me.pem"], "ssl.key.location": files["me.key"]}
    assert mtls.login().scram is None


def test_ssh_and_external_backends_log_in_with_the_security_block(files, tmp_path):
    security = {"protocol": "sasl_ssl", "username": "chaos", "password_env": "KC_TEST_PASSWORD",
                "ca_file": files["ca.pem"]}
    expected = ClientSecurity.model_validate(security).librdkafka()
    ssh = SshCluster(SshClusterConfig.model_validate({**SSH, "security": security}), tmp_path, dry_run=True)
    external = ExternalCluster(ExternalClusterConfig.model_validate({**EXTERNAL, "security": security}), tmp_path,
                               dry_run=True)
    assert ssh.harness_client == expected and external.harness_client == expected
    assert ssh.access is None and external.access is None, "no users or ACLs of the harness's own there"
    plain = ExternalCluster(ExternalClusterConfig.model_validate(EXTERNAL), tmp_path, dry_run=True)
    assert plain.harness_client == {}


def test_every_worker_logs_in_as_the_one_principal_and_its_own_settings_win(tmp_path):
    login = {"security.protocol": "SASL_SSL", "sasl.username": "chaos", "sasl.password": PASSWORD}
    workload = Workload(tmp_path, "b:9092", Semantics.AT_LEAST_ONCE, client=login)
    clients = workload._login(ProducerConfig(name="p1", topics=["t"]), Clients(producer={"acks": "all"}))
    assert clients.producer == {**login, "acks": "all"} and clients.consumer == {}
    wrong = workload._login(ProducerConfig(name="p2", topics=["t"]), Clients(producer={"sasl.password": "nope"}))
    assert wrong.producer["sasl.password"] == "nope"
    plain = Workload(tmp_path, "b:9092", Semantics.AT_LEAST_ONCE)
    assert plain._login(ProducerConfig(name="p1", topics=["t"]), Clients(producer={"acks": "all"})).producer == \
        {"acks": "all"}


@pytest.mark.parametrize("cluster", [EXTERNAL, SSH], ids=["external", "ssh"])
@pytest.mark.parametrize("fault", [{"fault": "revoke-acl", "worker": "c1", "operation": "read"},
                                   {"fault": "rotate-credentials", "worker": "p1"}])
def test_faults_on_the_harness_s_own_principals_are_refused_on_a_cluster_it_did_not_secure(files, cluster, fault):
    data = yaml.safe_load(experiment(cluster, {"protocol": "sasl_ssl", "username": "u",
                                               "password_env": "KC_TEST_PASSWORD"}, "acl-revocation-consumer-group"))
    data["faults"] = {"kind": "timeline", "steps": [{"at": 1, "duration": 2, "fault": fault}]}
    with pytest.raises(UsageError, match=f"{fault['fault']} needs security; backend {cluster['backend']} offers"):
        parse(yaml.safe_dump(data), runnable=True)


def test_the_password_reaches_no_file_only_where_it_is_found(files, tmp_path):
    """The saved experiment and the record of the cluster in use keep where the password is (so the
    observer and `cluster heal` find it), a worker's runtime file not the password itself."""
    security = {"protocol": "sasl_ssl", "username": "chaos", "password_env": "KC_TEST_PASSWORD"}
    exp = parse(experiment(EXTERNAL, security), runnable=True)
    saved = redact(exp.model_dump(mode="json"))
    assert saved["cluster"]["security"]["password_env"] == "KC_TEST_PASSWORD"
    assert redact({"password_file": files["password"]}) == {"password_file": files["password"]}
    assert ExternalClusterConfig.model_validate(saved["cluster"]) == exp.cluster, "taken up again from the record"
    runtime = Runtime(worker=ProducerConfig(name="p1", topics=["t"]), semantics=Semantics.AT_LEAST_ONCE,
                      bootstrap_servers="b:9092", history_dir=tmp_path, incarnation=1,
                      producer_client=exp.cluster.security.librdkafka())
    env = runtime.save(tmp_path / "runtime.json")
    assert PASSWORD not in (tmp_path / "runtime.json").read_text() and PASSWORD in str(env)
