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
