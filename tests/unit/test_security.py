"""Secured clusters without a cluster: the material (CA, certificates, keys, modes), the brokers'
settings, the clients' settings, and the ACLs each worker's role gets."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from harness import files
from harness.cluster.layout import certificate_hosts, plan, server_properties
from harness.cluster.security import (ADMIN_USER, BROKER_USER, Acl, BrokerSecurity, Material, Operation, Resource,
                                      SecuritySpec, admin_properties, client_properties, java_admin_properties,
                                      scram_format_arguments)
from harness.cluster.spec import ClusterSpec, ProxySpec
from harness.net.lab import Lab
from harness.workload.access import acls_for, user_of
from harness.workload.config import (ConsumerConfig, FinalReadConfig, Isolation, ProducerConfig, Semantics,
                                     TransformerConfig, resolve)

SASL = SecuritySpec(protocol="sasl_ssl", mechanism="SCRAM-SHA-256")
MTLS = SecuritySpec(protocol="ssl")


@pytest.fixture(scope="module")
def material(tmp_path_factory) -> Material:
    return Material.create(tmp_path_factory.mktemp("m") / "security", ["127.0.0.1", "198.18.60.11"])


def subject(pem: bytes) -> tuple[str, x509.Certificate]:
    cert = x509.load_pem_x509_certificate(pem)
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value, cert


def test_material_keys_and_passwords_are_private_and_certificates_chain_to_the_ca(material: Material):
    assert stat.S_IMODE(material.folder.stat().st_mode) == 0o700
    for secret in (material.ca_key, material.broker_keystore, material.admin_key, material.admin_keystore,
                   material.passwords_file):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
    ca_name, ca = subject(material.ca.read_bytes())
    broker_name, broker = subject(material.broker_keystore.read_bytes().split(b"-----END PRIVATE KEY-----\n")[1])
    assert broker_name == BROKER_USER and broker.issuer == ca.subject
    broker.verify_directly_issued_by(ca)
    sans = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "198.18.60.11"}
    assert subject(material.admin_certificate.read_bytes())[0] == ADMIN_USER
    assert material.password(BROKER_USER) != material.password(ADMIN_USER)


def test_a_user_certificate_is_issued_by_the_ca_and_never_written(material: Material):
    before = sorted(material.folder.iterdir())
    credential = material.issue("kc-abc-p1")
    name, cert = subject(credential.certificate.encode())
    assert name == "kc-abc-p1" and "PRIVATE KEY" in credential.key
    cert.verify_directly_issued_by(subject(material.ca.read_bytes())[1])
    assert sorted(material.folder.iterdir()) == before
    assert "BEGIN" not in repr(credential) and credential.key not in repr(credential)


def test_sasl_ssl_brokers_secure_every_listener_and_authorize(material: Material):
    spec = ClusterSpec(security=SASL, proxy=ProxySpec(replication=True))
    lab = Lab("sec", 60)
    nodes = plan(spec, lab)
    props = server_properties(nodes[0], nodes, spec, Path("/data"), BrokerSecurity.of(SASL, material))
    assert props["listeners"].startswith("BROKER://198.18.60.11:9092,")
    assert props["listener.security.protocol.map"] == \
        "BROKER:SASL_SSL,CONTROLLER:SSL,CLIENT:SASL_SSL,REPLICATION:SASL_SSL"
    assert props["inter.broker.listener.name"] == "REPLICATION"
    assert props["sasl.enabled.mechanisms"] == props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-256"
    assert material.password(BROKER_USER) in props["listener.name.broker.scram-sha-256.sasl.jaas.config"]
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert "ssl.client.auth" not in props  # SASL clients need no certificate
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["super.users"] == f"User:{BROKER_USER};User:{ADMIN_USER}"
    assert props["ssl.keystore.location"] == str(material.broker_keystore)
    assert "198.18.60.1" in certificate_hosts(nodes, spec, lab), "replication proxies listen on the gateway"


def test_mutual_tls_brokers_require_client_certificates(material: Material):
    spec = ClusterSpec(security=MTLS)
    nodes = plan(spec, None)
    props = server_properties(nodes[0], nodes, spec, Path("/data"), BrokerSecurity.of(MTLS, material))
    assert props["listener.security.protocol.map"].startswith("BROKER:SSL,CONTROLLER:SSL")
    assert props["ssl.client.auth"] == "required"
    assert not any("sasl" in key for key in props)
    assert scram_format_arguments(MTLS, material) == []


def test_plaintext_is_unchanged_and_a_secured_spec_needs_its_material():
    spec = ClusterSpec()
    nodes = plan(spec, None)
    props = server_properties(nodes[0], nodes, spec, Path("/data"))
    assert props["listener.security.protocol.map"].startswith("PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT")
    assert "authorizer.class.name" not in props
    with pytest.raises(ValueError, match="security material"):
        server_properties(nodes[0], nodes, ClusterSpec(security=SASL), Path("/data"))


def test_scram_credentials_go_into_the_first_metadata(material: Material):
    args = scram_format_arguments(SASL, material)
    assert args[0] == "--add-scram" and args[1].startswith(f"SCRAM-SHA-256=[name={BROKER_USER},password=")
    assert args[3].startswith(f"SCRAM-SHA-256=[name={ADMIN_USER},")


def test_client_settings(material: Material):
    sasl = client_properties(SASL, material, _password("u"))
    assert sasl == {"security.protocol": "SASL_SSL", "ssl.ca.location": str(material.ca),
                    "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": "u", "sasl.password": "pw"}
    mtls = client_properties(MTLS, material, material.issue("u"))
    assert mtls["security.protocol"] == "SSL" and "PRIVATE KEY" in mtls["ssl.key.pem"]
    assert admin_properties(MTLS, material)["ssl.key.location"] == str(material.admin_key)
    assert admin_properties(SASL, material)["sasl.username"] == ADMIN_USER
    assert java_admin_properties(SASL, material)["sasl.jaas.config"].startswith(
        "org.apache.kafka.common.security.scram.ScramLoginModule required")


def _password(user: str):
    from harness.cluster.security import Credential

    return Credential(user, password="pw")


# ---- ACLs derived from the workload ------------------------------------------------------------


def granted(worker, semantics=Semantics.AT_LEAST_ONCE) -> set[tuple]:
    worker, clients = resolve(worker, semantics)
    return {(a.resource.value, a.name, a.operation.value, a.prefixed)
            for a in acls_for(worker, clients, "u", "txn-id")}


def test_a_producer_may_write_its_topics_idempotently_and_nothing_else():
    assert granted(ProducerConfig(name="p1", topics=["a", "b"])) == {
        ("topic", "a", "write", False), ("topic", "a", "describe", False),
        ("topic", "b", "write", False), ("topic", "b", "describe", False),
        ("cluster", "kafka-cluster", "idempotent-write", False)}
    plain = granted(ProducerConfig(name="p1", topics=["a"]), Semantics.AT_MOST_ONCE)
    assert ("cluster", "kafka-cluster", "idempotent-write", False) not in plain


def test_a_transactional_producer_also_owns_its_transactional_id():
    acls = granted(ProducerConfig(name="p1", topics=["a"]), Semantics.EXACTLY_ONCE)
    assert {("transactional-id", "txn-id", "write", False), ("transactional-id", "txn-id", "describe", False)} <= acls


def test_consumers_read_their_topics_and_group():
    assert granted(ConsumerConfig(name="c1", topics=["a"], group="g")) == {
        ("topic", "a", "read", False), ("topic", "a", "describe", False), ("group", "g", "read", False)}
    assert ("group", "kafka-chaos-unused-c2", "read", False) in granted(ConsumerConfig(name="c2", topics=["a"]))
    dead = granted(ConsumerConfig(name="c3", topics=["a"], group="g", poison_every=5, dead_letter_topic="dlq"))
    assert ("topic", "dlq", "write", False) in dead and ("topic", "dlq", "read", False) not in dead


def test_transformers_read_input_and_write_output_in_transactions():
    acls = granted(TransformerConfig(name="t1", input="in", output="out", group="g"), Semantics.EXACTLY_ONCE)
    assert {("topic", "in", "read", False), ("group", "g", "read", False), ("topic", "out", "write", False),
            ("transactional-id", "txn-id", "write", False)} <= acls
    assert ("topic", "in", "write", False) not in acls and ("topic", "out", "read", False) not in acls


def test_final_readers_read_every_topic_with_groups_of_their_prefix():
    acls = granted(FinalReadConfig(name="final-read-committed", topics=["a"], isolation=Isolation.READ_COMMITTED))
    assert acls == {("topic", "a", "read", False), ("topic", "a", "describe", False),
                    ("group", "kafka-chaos-final-read-", "read", True)}


def test_principals_are_per_run_and_worker():
    assert user_of("1a2b3c", "p1") == "kc-1a2b3c-p1"
    acl = Acl("u", Resource.TOPIC, "t", Operation.READ)
    assert Acl.from_json(acl.to_json()) == acl and str(acl) == "User:u read on topic t"


def test_an_argfile_argument_reaches_java_as_written(tmp_path):
    """The format's SCRAM passwords go to the java launcher in an @argfile, not its command line:
    a value with spaces, quotes, backslashes and brackets comes through the real launcher intact."""
    import shutil
    import subprocess

    from harness.cluster.security import java_argfile_quoted

    java = shutil.which("java")  # run.sh installs it
    tricky = 'SCRAM-SHA-512=[name=kc-admin,password=pa ss"wo\\rd,iterations=4096]'
    argfile = tmp_path / "args"
    argfile.write_text("\n".join(java_argfile_quoted(a) for a in
                                 [f"-Dkc.probe={tricky}", "-XshowSettings:properties", "-version"]) + "\n")
    shown = subprocess.run([java, f"@{argfile}"], capture_output=True, text=True, timeout=60).stderr
    assert f"kc.probe = {tricky}" in [line.strip() for line in shown.splitlines()], shown


def test_a_private_file_is_the_owners_alone_also_when_it_replaces_a_readable_one(tmp_path: Path):
    """Cluster state files hold the spec, security settings included."""
    state = tmp_path / "run.json"
    files.write_text(state, "{}")
    assert stat.S_IMODE(state.stat().st_mode) == 0o644
    files.write_text(state, '{"secret": 1}', private=True)
    assert stat.S_IMODE(state.stat().st_mode) == 0o600 and state.read_text() == '{"secret": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"], "no temporary file is left"
