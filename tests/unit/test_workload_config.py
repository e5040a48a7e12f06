"""Worker configurations, semantics presets, pacing and key distributions (no cluster)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from pydantic import ValidationError

from harness.workload.config import (CommitStrategy, ConsumerConfig, Isolation, ProducerConfig, Semantics,
                                     TransactionSpec, TransformerConfig, resolve)
from harness.workload.config import KeyDistribution
from harness.workload.producer import KeyChooser, Pacer


def test_presets_follow_the_semantics_table():
    producer = ProducerConfig(name="p", topics=["t"])
    consumer = ConsumerConfig(name="c", topics=["t"], group="g")
    amo_p, amo = resolve(producer, Semantics.AT_MOST_ONCE)
    assert amo.producer["acks"] == "1" and amo.producer["retries"] == 0 and not amo.producer["enable.idempotence"]
    assert amo_p.transactions is None and amo.consumer == {}
    amo_c, amo_clients = resolve(consumer, Semantics.AT_MOST_ONCE)
    assert amo_c.commit == CommitStrategy.BEFORE and amo_clients.consumer["enable.auto.commit"] is False

    alo_p, alo = resolve(producer, Semantics.AT_LEAST_ONCE)
    assert alo.producer["acks"] == "all" and alo_p.transactions is None
    alo_c, _ = resolve(consumer, Semantics.AT_LEAST_ONCE)
    assert alo_c.commit == CommitStrategy.AFTER

    eos_p, eos = resolve(producer, Semantics.EXACTLY_ONCE)
    assert eos.producer["enable.idempotence"] is True and eos_p.transactions == TransactionSpec()
    eos_c, eos_clients = resolve(consumer, Semantics.EXACTLY_ONCE)
    assert eos_c.isolation == Isolation.READ_COMMITTED
    assert eos_clients.consumer["isolation.level"] == "read_committed"
    _, transformer = resolve(TransformerConfig(name="x", input="a", output="b", group="g"), Semantics.AT_LEAST_ONCE)
    assert transformer.consumer["isolation.level"] == "read_committed" and "acks" not in transformer.consumer
    assert transformer.producer["enable.idempotence"] is True and "group.id" not in transformer.producer


def test_user_choices_win_over_the_preset():
    producer = ProducerConfig(name="p", topics=["t"], client={"enable.idempotence": False, "acks": "1"})
    _, clients = resolve(producer, Semantics.AT_LEAST_ONCE)
    assert clients.producer["enable.idempotence"] is False and clients.producer["acks"] == "1"
    consumer = ConsumerConfig(name="c", topics=["t"], group="g", commit=CommitStrategy.AUTO)
    resolved, clients = resolve(consumer, Semantics.AT_MOST_ONCE)
    assert resolved.commit == CommitStrategy.AUTO and clients.consumer["enable.auto.commit"] is True
    no_txn = ProducerConfig(name="p", topics=["t"], transactions=None)
    assert resolve(no_txn, Semantics.EXACTLY_ONCE)[0].transactions is None


@pytest.mark.parametrize("bad", [
    dict(name="p", topics=[]), dict(name="P1", topics=["t"]), dict(name="p", topics=["t"], value_size=10),
    dict(name="p", topics=["t"], rate=0), dict(name="p", topics=["t"], unknown=1),
])
def test_invalid_producer_configs_are_refused(bad):
    with pytest.raises(ValidationError):
        ProducerConfig(**bad)


def test_commit_strategy_needs_a_group():
    with pytest.raises(ValidationError, match="needs a consumer group"):
        ConsumerConfig(name="c", topics=["t"], commit=CommitStrategy.BEFORE)


class FakeClock:
    def __init__(self):
        self.t = 100.0
        self.waited = []

    def now(self) -> float:
        return self.t

    def wait(self, seconds: float) -> None:
        self.waited.append(seconds)
        self.t += seconds


def test_pacer_sends_at_the_rate():
    clock, pacer, sent = FakeClock(), Pacer(rate=200), 0
    while clock.t < 110:
        sent += pacer.due(clock.wait, clock.now)
    assert abs(sent - 2000) <= 2
    assert all(0 < w <= 0.05 for w in clock.waited)


def test_pacer_forgets_backlog_older_than_a_second():
    clock, pacer = FakeClock(), Pacer(rate=100)
    pacer.due(clock.wait, clock.now)
    clock.t += 30  # blocked for 30 s (e.g. a full queue during a partition)
    burst = 0
    while (n := pacer.due(clock.wait, clock.now)) > 0:
        burst += n
    assert burst <= 101


def test_unlimited_pacer_always_gives_a_full_batch():
    assert Pacer(None).due(lambda s: None) > 1


def test_hot_key_takes_its_share():
    keys = KeyChooser(KeyDistribution(distribution="hot", count=10, hot_share=0.8), random.Random(1)).batch(20_000)
    assert Counter(keys)["hot"] / len(keys) == pytest.approx(0.8, abs=0.02)


def test_uniform_keys_cover_the_key_space_and_none_means_none():
    keys = KeyChooser(KeyDistribution(count=5), random.Random(1)).batch(1000)
    assert set(keys) == {"k0", "k1", "k2", "k3", "k4"}
    assert KeyChooser(KeyDistribution(distribution="none"), random.Random(1)).batch(3) == [None] * 3


def test_same_seed_same_keys():
    spec = KeyDistribution(count=50)
    assert KeyChooser(spec, random.Random(7)).batch(100) == KeyChooser(spec, random.Random(7)).batch(100)
