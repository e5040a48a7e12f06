"""Letting consumers catch up before the final read: a group is drained when, in every
partition of its topics, it has processed up to the last acknowledged record it can see."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from harness.history.load import load_history
from harness.process import ProcessState
from harness.workload.config import ConsumerConfig, Isolation, SinkConfig, StreamsConfig, TransformerConfig
from harness.workload.launcher import Workload

POLL_S = 0.5


def drain(run_dir: Path, workload: Workload, timeout_s: float) -> bool:
    """Wait (polling the history) until every group is drained, or `timeout_s`; True if drained."""
    groups = _groups(workload)
    if not groups:
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        history, live = load_history(run_dir), _running_streams(workload)
        if all(_drained(history, members, topics, committed, live)
               for members, topics, committed in groups.values()):
            return True
        if not any(p.status == ProcessState.RUNNING for p in workload.processes
                   if isinstance(p.runtime.worker, (ConsumerConfig, TransformerConfig, SinkConfig, StreamsConfig))):
            return False  # nobody left to catch up
        time.sleep(POLL_S)
    return False


def _groups(workload: Workload) -> dict[str, tuple[set[str], set[str], bool]]:
    """group -> (member worker names, topics, reads committed only)."""
    groups: dict[str, tuple[set[str], set[str], bool]] = {}
    for process in workload.processes:
        worker = process.runtime.worker
        if isinstance(worker, ConsumerConfig):
            group, topics, committed = worker.group or worker.name, set(worker.topics), \
                worker.isolation == Isolation.READ_COMMITTED
        elif isinstance(worker, (TransformerConfig, SinkConfig, StreamsConfig)):
            group, topics, committed = worker.group, {worker.input}, True
        else:
            continue
        members, known, _ = groups.get(group, (set(), set(), committed))
        groups[group] = (members | {worker.name}, known | topics, committed)
    return groups


def _running_streams(workload: Workload) -> pd.DataFrame:
    """What running Kafka Streams instances processed so far (their history is written when they
    end), with the worker's name."""
    from harness.rundir import WorkerDir
    from harness.workload import streams

    running = [p for p in workload.processes if isinstance(p.runtime.worker, StreamsConfig) and p.returncode is None]
    frames = [streams.processed(WorkerDir(p.runtime.history_dir)).assign(worker=p.name) for p in running]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["topic", "partition", "offset", "worker"])


def _drained(history, members: set[str], topics: set[str], committed_only: bool, live: pd.DataFrame) -> bool:
    sends = history.sends
    visible = sends[(sends["outcome"] == "ok") & sends["topic"].isin(topics)]
    if committed_only and not history.transactions.empty:
        done = history.transactions[history.transactions["outcome"] == "committed"]
        in_txn = visible["txn"] > 0
        keys = pd.MultiIndex.from_frame(visible[["producer", "txn"]])
        ok = keys.isin(pd.MultiIndex.from_frame(done[["producer", "txn"]]))
        visible = visible[~in_txn.to_numpy() | ok]
    last = visible.groupby(["topic", "partition"], observed=True)["offset"].max()
    reads = history.reads[history.reads["worker"].isin(members)][["topic", "partition", "offset"]]
    running = live[live["worker"].isin(members)][["topic", "partition", "offset"]]
    if len(running):
        reads = pd.concat([reads.astype({"topic": str}), running], ignore_index=True)
    reached = reads.groupby(["topic", "partition"], observed=True)["offset"].max()
    return all(reached.get(key, -1) >= offset for key, offset in last.items())
