"""Secrets are hidden from what is written, and only the worker gets them back."""

from __future__ import annotations

from pathlib import Path

from harness.redact import REDACTED, redact, restore, secrets
from harness.workload.config import SECRETS_ENV, ProducerConfig, Runtime, Semantics

DATA = {"worker": {"name": "p1", "client": {"sasl.password": "hunter2", "acks": "all"}},
        "producer_client": {"sasl.jaas.config": "user=x password=y", "sasl.username": "x", "ssl.key.password": None},
        "seed": 3}


def test_redact_hides_every_secret_named_value_and_nothing_else():
    shown = redact(DATA)
    assert shown["worker"]["client"] == {"sasl.password": REDACTED, "acks": "all"}
    assert shown["producer_client"] == {"sasl.jaas.config": REDACTED, "sasl.username": "x", "ssl.key.password": None}
    assert shown["seed"] == 3


def test_secrets_are_exactly_what_redact_hid_and_restore_puts_them_back():
    hidden = secrets(DATA)
    assert hidden == {"worker": {"client": {"sasl.password": "hunter2"}},
                      "producer_client": {"sasl.jaas.config": "user=x password=y"}}
    assert restore(redact(DATA), hidden) == DATA
    assert restore(redact({"seed": 1}), {}) == {"seed": 1}
    nested = {"credentials": {"user": "x", "key": "k"}, "acks": "all"}  # a secret-named mapping hides whole
    assert redact(nested)["credentials"] == REDACTED and restore(redact(nested), secrets(nested)) == nested


def test_runtime_file_holds_no_secret_and_the_environment_carries_it(tmp_path: Path, monkeypatch):
    runtime = Runtime(worker=ProducerConfig(name="p1", topics=["t"], client={"sasl.password": "hunter2"}),
                      semantics=Semantics.AT_LEAST_ONCE, bootstrap_servers="b:9092", history_dir=tmp_path,
                      incarnation=1, producer_client={"sasl.password": "hunter2", "acks": "all"})
    path = tmp_path / "runtime.json"
    env = runtime.save(path)
    assert "hunter2" not in path.read_text() and "hunter2" in env[SECRETS_ENV]
    monkeypatch.setenv(SECRETS_ENV, env[SECRETS_ENV])
    assert Runtime.load(path) == runtime


def test_a_runtime_without_secrets_needs_no_environment(tmp_path: Path):
    runtime = Runtime(worker=ProducerConfig(name="p1", topics=["t"]), semantics=Semantics.AT_LEAST_ONCE,
                      bootstrap_servers="b:9092", history_dir=tmp_path, incarnation=1)
    assert runtime.save(tmp_path / "runtime.json") == {}
    assert Runtime.load(tmp_path / "runtime.json") == runtime


KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"


def test_private_keys_are_hidden_whatever_their_field_is_called_and_come_back():
    data = {"producer_client": {"ssl.key.pem": KEY, "ssl.keystore.key": KEY, "note": KEY, "ssl.key.location": "/k"},
            "broker_config": {"listener.name.broker.scram-sha-512.sasl.jaas.config": "password=\"s3\""},
            "list": [KEY, "fine"]}
    shown = redact(data)
    assert "PRIVATE KEY" not in str(shown) and "s3" not in str(shown)
    assert shown["producer_client"]["ssl.key.location"] == "/k", "a path to a key is no secret"
    assert shown["list"] == [REDACTED, "fine"]
    hidden = secrets(data)
    assert restore(shown, hidden)["producer_client"] == data["producer_client"]


def test_a_workers_scram_password_and_key_reach_it_by_environment_only(tmp_path: Path, monkeypatch):
    runtime = Runtime(worker=ProducerConfig(name="p1", topics=["t"]), semantics=Semantics.AT_LEAST_ONCE,
                      bootstrap_servers="b:9092", history_dir=tmp_path, incarnation=1,
                      producer_client={"sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "kc-1-p1",
                                       "sasl.password": "Zq9-scram", "ssl.key.pem": KEY})
    env = runtime.save(tmp_path / "runtime.json")
    written = (tmp_path / "runtime.json").read_text()
    assert "Zq9-scram" not in written and "PRIVATE KEY" not in written and "kc-1-p1" in written
    monkeypatch.setenv(SECRETS_ENV, env[SECRETS_ENV])
    assert Runtime.load(tmp_path / "runtime.json") == runtime


def test_where_a_secret_is_is_kept_the_secret_is_not():
    """A cluster's `security:` names a variable or a file: kept, so another process can read it."""
    data = {"security": {"username": "chaos", "password_env": "KAFKA_CHAOS_PASSWORD", "password_file": "/run/pw",
                         "key_file": "/etc/k.key"},
            "client": {"sasl.password": "hunter2", "ssl.key.pem": KEY}}
    shown = redact(data)
    assert shown["security"] == data["security"]
    assert shown["client"] == {"sasl.password": REDACTED, "ssl.key.pem": REDACTED}
