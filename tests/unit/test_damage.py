"""Damaged run directories: whatever happened to the harness's own records (cut, emptied,
deleted, flipped, replaced by garbage, a FIFO or a directory, duplicated, swapped, JSON of the
wrong shape), checking never crashes, never hangs, and never says PASS having lost an
acknowledged or read record: damage is UNKNOWN, naming the file, never blamed on Kafka.

The run directories are written in the real format by tests/histories.py, with killed workers
among them: what SIGKILL left of their files is sealed in the manifest, so a later cut shows.
KC_DAMAGE_EXAMPLES=2000 runs the property longer than CI does.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checker.check import check
from harness.checker.model import AnomalyKind, Status, Verdict
from harness.errors import UsageError
from harness.history.load import load_history
from tests.histories import INJECT, _consume_cleanly, simulate


def realistic_run(seed: int, anomaly: str | None = None):
    """A clean run of random shape with consumers and final reads (or one anomaly), where one
    consumer and one producer were SIGKILLed."""
    rng = random.Random(seed)
    run = simulate(rng)
    if not any(r.kind == "consumer" for r in run.readers):  # at least one consumer group
        _consume_cleanly(run, rng, "c1", "g1", "read_uncommitted")
    if anomaly:
        INJECT[anomaly](run, rng)
    else:
        run.final_reads()
    consumer = next(r for r in run.readers if r.kind == "consumer")
    run.killed = {consumer.name, f"p{run.sends[0].producer}"}
    return run


@pytest.fixture(scope="module")
def runs():
    """A few run directories to damage: clean ones, and one holding a lost write."""
    root = Path(tempfile.mkdtemp(prefix="kc-damage-"))
    made = {}
    for seed, anomaly in ((1, None), (2, None), (3, "lost-write")):
        directory = root / f"run{seed}"
        realistic_run(seed, anomaly).write(directory)
        (directory / "experiment.json").write_text(json.dumps({"name": "x", "semantics": "at-least-once"}))
        made[seed] = (directory, check(directory), _facts(directory))
    yield made
    shutil.rmtree(root)


def _facts(run_dir: Path) -> tuple:
    """Everything the verdict rests on, as comparable values."""
    history = load_history(run_dir)
    def rows(frame, columns):
        return sorted(map(tuple, frame[columns].astype(str).to_numpy().tolist()))
    return (rows(history.sends, ["vid", "outcome", "partition", "offset", "worker"]),
            rows(history.reads, ["worker", "incarnation", "topic", "partition", "offset", "vid", "generation"]),
            rows(history.events, ["worker", "kind", "phase", "topic", "partition", "offset"]),
            rows(history.transactions, ["producer", "txn", "outcome"]),
            rows(history.processes, ["worker", "incarnation", "kind", "producer"]))


# ---- damage ---------------------------------------------------------------------------------

FILE_DAMAGE = ["truncate", "empty", "delete", "garbage", "flip", "append", "fifo", "directory", "swap", "repeat"]
JSON_DAMAGE = ["list", "string", "empty-object", "drop-key", "mistype", "change"]


@st.composite
def damages(draw, run_dir: Path):
    files = sorted(str(p.relative_to(run_dir)) for p in (run_dir / "history").rglob("*") if p.is_file())
    workers = sorted(p.name for p in (run_dir / "history").iterdir() if p.is_dir())
    kind = draw(st.sampled_from(FILE_DAMAGE + ["json", "drop-worker", "copy-worker", "odd-name", "manifest-line"]))
    if kind == "json":
        target = f"history/{draw(st.sampled_from(workers))}/process.json"
        return kind, target, draw(st.sampled_from(JSON_DAMAGE)), draw(st.integers(0, 2**32))
    if kind in ("drop-worker", "copy-worker", "odd-name"):
        return kind, f"history/{draw(st.sampled_from(workers))}", None, draw(st.integers(0, 2**32))
    if kind == "manifest-line":
        return kind, "history/workers.jsonl", draw(st.sampled_from(["drop", "repeat", "cut"])), draw(
            st.integers(0, 2**32))
    return kind, draw(st.sampled_from(files)), draw(st.floats(0, 1)), draw(st.integers(0, 2**32))


def apply(run_dir: Path, damage) -> None:
    kind, target, detail, seed = damage
    rng = random.Random(seed)
    path = run_dir / target
    data = path.read_bytes() if path.is_file() else b""
    if kind == "truncate":
        os.truncate(path, int(len(data) * detail))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "delete":
        path.unlink()
    elif kind == "garbage":
        path.write_bytes(rng.randbytes(max(1, len(data))))
    elif kind == "flip" and data:
        flipped = bytearray(data)
        for _ in range(rng.choice([1, 2, 8])):
            at = rng.randrange(len(flipped))
            flipped[at] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(flipped))
    elif kind == "append":
        path.write_bytes(data + rng.randbytes(rng.randint(1, 200)))
    elif kind == "repeat":  # a copy gone wrong: the file twice over
        path.write_bytes(data + data)
    elif kind == "fifo":
        path.unlink()
        os.mkfifo(path)
    elif kind == "directory":
        path.unlink()
        path.mkdir()
    elif kind == "swap":
        others = [p for p in (run_dir / "history").glob(f"*/{path.name}") if p != path]
        if others:
            other = rng.choice(others)
            other_data = other.read_bytes()
            other.write_bytes(data)
            path.write_bytes(other_data)
    elif kind == "json":
        info = json.loads(data)
        if detail == "list":
            info = [info]
        elif detail == "string":
            info = "process"
        elif detail == "empty-object":
            info = {}
        elif detail == "drop-key":
            info.pop(rng.choice(sorted(info)))
        elif detail == "mistype":
            key = rng.choice(sorted(info))
            info[key] = [info[key]] if rng.random() < 0.5 else str(info[key])
        else:  # a plausible value changed by hand or by a flipped bit
            key = rng.choice(sorted(k for k in info if k != "checksum"))
            info[key] = {"producer": 77, "incarnation": 2, "kind": "consumer", "semantics": "exactly-once"}.get(
                key, "x") if key != "config" else {**info[key], "isolation": "read_committed", "group": "gx"}
        path.write_text(json.dumps(info))
    elif kind == "drop-worker":
        shutil.rmtree(path)
    elif kind == "copy-worker":
        worker, _, incarnation = path.name.rpartition(".")
        shutil.copytree(path, path.parent / f"{worker}.{int(incarnation) + 5}")
    elif kind == "odd-name":
        path.rename(path.parent / rng.choice([f"{path.name} copy", f"{path.name}.bak", "x", f"{path.name}0000"]))
    elif kind == "manifest-line":
        lines = data.decode().splitlines(keepends=True)
        at = rng.randrange(len(lines))
        if detail == "drop":
            del lines[at]
        elif detail == "repeat":
            lines.insert(at, lines[at])
        else:
            lines = lines[:at] + [lines[at][: len(lines[at]) // 2]]
        path.write_text("".join(lines))


@pytest.mark.timeout(300)
@settings(max_examples=int(os.environ.get("KC_DAMAGE_EXAMPLES", 40)), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_no_damaged_run_that_lost_records_checks_as_pass(runs, data):
    seed = data.draw(st.sampled_from(sorted(runs)))
    original, verdict, facts = runs[seed]
    with tempfile.TemporaryDirectory(prefix="kc-damaged-") as scratch:
        copy = Path(scratch) / "run"
        shutil.copytree(original, copy)
        damage = data.draw(damages(copy))
        apply(copy, damage)
        try:
            result = check(copy)
        except UsageError:
            return  # exit 2: not judged at all
        if result.damage:
            assert result.verdict == Verdict.UNKNOWN, (damage, result.damage)
            assert all(i.status in (Status.UNKNOWN, Status.NOT_APPLICABLE) for i in result.invariants)
            assert all(d.startswith("history") for d in result.damage), result.damage  # names the file
        else:  # nothing damaged was found: then nothing the verdict rests on changed
            assert _facts(copy) == facts, (damage, "lost or altered records went unnoticed")
            assert result.model_dump(exclude={"stats"}) == verdict.model_dump(exclude={"stats"}), damage


def test_the_realistic_runs_are_clean_and_the_anomaly_is_caught(runs):
    for seed, (_, result, _) in runs.items():
        assert not result.damage
        expected = Verdict.VIOLATION if seed == 3 else Verdict.PASS
        assert result.verdict == expected, result.invariants
    assert runs[3][1].invariant(AnomalyKind.LOST_WRITE).count == 1
