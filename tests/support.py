"""Helpers for tests: waiting on conditions, plain clients for round trips, short catalogue experiments."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import yaml
from confluent_kafka import Consumer, Producer, TopicPartition
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from harness import api
from harness.clientlog import CLIENT_LOG
from harness.events import EventLog
from harness.faults import FAULTS, Env
from harness.faults.runner import FaultRunner
from harness.faults.schedule import Planned
from harness.workload.windows import Window, in_window

T = TypeVar("T")


class NotYet(AssertionError):
    pass


def eventually(check: Callable[[], T], timeout: float = 60) -> T:
    """Retry `check` until it stops raising and returns None or something true."""
    def attempt() -> T:
        result = check()
        if result is not None and not result:
            raise NotYet(f"{getattr(check, '__name__', check)} still false after {timeout}s")
        return result

    retrying = Retrying(stop=stop_after_delay(timeout), wait=wait_exponential(multiplier=0.05, max=1),
                        retry=retry_if_exception_type(Exception), reraise=True)
    return retrying(attempt)


def settled(read: Callable[[], T], quiet_s: float) -> Callable[[], T]:
    """A check for `eventually`: what `read()` returns once it has returned the same for `quiet_s`
    (an absence, such as no more progress, shown by a condition and not by a sleep that races)."""
    seen: dict = {}

    def check() -> T:
        now, value = time.monotonic(), read()
        if "value" not in seen or seen["value"] != value:
            seen.update(value=value, since=now)
        if now - seen["since"] < quiet_s:
            raise NotYet(f"changed {now - seen['since']:.1f} s ago")
        return value
    return check


def read_all(bootstrap: str, topic: str, partitions: int, timeout: float = 60) -> list:
    """Every record of `topic` from the earliest offset up to the high watermark at call time."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False,
                         "logger": CLIENT_LOG})
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(partitions)}
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        records, done = [], {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + timeout
        while len(done) < partitions:
            assert time.monotonic() < deadline, f"did not reach the end of {topic}: {ends}, done {done}"
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            records.append(msg)
            if msg.offset() + 1 >= ends[msg.partition()]:
                done.add(msg.partition())
        return records
    finally:
        consumer.close()


def caught_beyond_commit(process) -> bool:
    """Freeze the worker and look: a frozen worker cannot commit between the look and a kill.
    Leaves it frozen when it has processed records its commits do not cover yet."""
    process.pause()
    if in_window(process.runtime.history_dir, Window.PROCESSED_UNCOMMITTED):
        return True
    process.resume()
    return False


def short_experiment(name: str, **changes) -> dict:
    """A catalogue experiment with short phases (and `changes`), as a dict to run."""
    data = yaml.safe_load((Path(__file__).parents[1] / "harness" / "catalogue" / f"{name}.yaml").read_text())
    data["phases"] = {"steady_s": 3, "faults_s": 12, "recovery_s": 4}
    return {**data, **changes}


@contextmanager
def kept_session(out: Path, home: dict) -> Iterator[api.Session]:
    """A Session whose cluster serves a whole module's tests, and is stopped however they end."""
    with api.Session(out=out, home=home, keep_cluster=True) as session:
        try:
            yield session
        finally:
            session.pool.close(force=True)


@contextmanager
def fault_env(cluster, tmp_path: Path) -> Iterator[Env]:
    """What a fault acts through: `cluster`, an event log in `tmp_path`, a fixed seed."""
    events = EventLog(tmp_path / "events.jsonl")
    try:
        yield Env(cluster=cluster, events=events, rng=random.Random(7))
    finally:
        events.close()


def run_fault(env: Env, spec: dict) -> FaultRunner:
    """A runner with one fault injected now; leaving the `with` heals it."""
    runner = FaultRunner(env, [])
    planned = Planned(0, 0, 0, FAULTS[spec["fault"]].model_validate(spec))
    assert runner.inject(planned) is not None, env.events.events[-1]
    return runner


def produce(cluster, topic: str, count: int, **config) -> int:
    """Send `count` records to partition 0 through the clients' path; how many were acknowledged."""
    acked = []
    producer = Producer({"bootstrap.servers": cluster.client_bootstrap_servers, "acks": "all", "linger.ms": 5,
                         "logger": CLIENT_LOG, **config})
    for i in range(count):
        producer.produce(topic, value=f"v{i}".encode(), partition=0,
                         on_delivery=lambda err, msg: acked.append(msg.offset()) if err is None else None)
        producer.poll(0)
    producer.flush(60)
    return len(acked)
