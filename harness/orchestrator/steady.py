"""Steady-state checks: liveness next to the checker's safety. Did throughput come back after
the faults healed? Is anything under-replicated at the end? Did consumers get the partitions
the scenario says they should? All read from the history and the event log, except replication,
which asks the cluster at the end."""

from __future__ import annotations

import numpy as np

from harness.experiment.model import SteadyState
from harness.history.load import History
from harness.rundir.record import SteadyCheck


def phase_times(events: list[dict]) -> dict[str, int]:
    """The start (mono ns) of each phase of the run."""
    return {e["kind"]: e["mono"] for e in events if e.get("source") == "phase"}


def throughput_recovery(history: History, events: list[dict], percent: float, within_s: float) -> SteadyCheck:
    phases = phase_times(events)
    acked = np.sort(history.sends.loc[history.sends["outcome"] == "ok", "complete_mono"].to_numpy())
    if "steady" not in phases or "faults" not in phases or "recovery" not in phases or not len(acked):
        return SteadyCheck(name="throughput-recovers", passed=False, detail="no steady or recovery phase to compare")
    steady_s = max((phases["faults"] - phases["steady"]) / 1e9, 1e-9)
    baseline = np.count_nonzero((acked >= phases["steady"]) & (acked < phases["faults"])) / steady_s
    healed = phases["recovery"]
    for second in range(int(within_s)):
        lo = healed + second * 10**9
        rate = np.count_nonzero((acked >= lo) & (acked < lo + 10**9))
        if rate >= baseline * percent / 100:
            return SteadyCheck(name="throughput-recovers", passed=True,
                               detail=f"{rate}/s within {second + 1} s of the heal (baseline {baseline:.0f}/s)")
    return SteadyCheck(name="throughput-recovers", passed=False,
                       detail=f"did not reach {percent:.0f}% of {baseline:.0f}/s within {within_s:.0f} s of the heal")


def idle_consumers(history: History, expected: int) -> SteadyCheck:
    """Consumers whose latest assignment was empty (seed scenario 5: more consumers than partitions)."""
    events = history.events
    consumers = set(history.processes.loc[history.processes["kind"] == "consumer", "worker"])
    busy = set()
    for worker in consumers:
        mine = events[(events["worker"] == worker) & (events["kind"] == "assign")]
        latest = mine[mine["generation"] == mine["generation"].max()]
        if latest["partition"].notna().any():
            busy.add(worker)
    idle = len(consumers) - len(busy)
    return SteadyCheck(name="idle-consumers", passed=idle == expected,
                       detail=f"{idle} of {len(consumers)} consumers had no partition (expected {expected})")


def hot_partition_share(history: History, at_least: float) -> SteadyCheck:
    acked = history.sends[history.sends["outcome"] == "ok"]
    if acked.empty:
        return SteadyCheck(name="hot-partition", passed=False, detail="nothing acknowledged")
    share = acked.groupby(["topic", "partition"], observed=True).size().max() / len(acked)
    return SteadyCheck(name="hot-partition", passed=share >= at_least,
                       detail=f"the busiest partition took {share:.0%} of the sends (expected at least {at_least:.0%})")


def dead_letters(history: History, client: dict, topics: dict[str, str]) -> SteadyCheck:
    """Every poison record a consumer handled has a dead letter, acknowledged and in the log,
    and dead letters carry the error and their source in their headers (read with `client`: the
    harness's librdkafka properties, bootstrap servers and login)."""
    sends, reads = history.sends, history.reads
    consumers = history.processes[history.processes["kind"] == "consumer"]
    missing, letters = 0, 0
    for row in consumers.itertuples():
        every, topic = (row.config or {}).get("poison_every"), (row.config or {}).get("dead_letter_topic")
        if not (every and topic):
            continue
        handled = reads[(reads["worker"] == row.worker) & (reads["seq"] % every == every - 1) & (reads["vid"] >= 0)]
        mine = sends[(sends["worker"] == row.worker) & (sends["topic"] == topic) & (sends["outcome"] == "ok")]
        in_log = mine[mine["vid"].isin(reads.loc[reads["worker"].str.startswith("final-"), "vid"])]
        sources = set(zip(in_log["source_producer"], in_log["source_seq"]))
        missing += sum((p, s) not in sources for p, s in zip(handled["producer"], handled["seq"]))
        letters += len(in_log)
    if not letters:
        return SteadyCheck(name="dead-letters", passed=False, detail="no dead letter reached the log")
    headers = _first_headers(client, [t for t in topics.values()])
    ok = missing == 0 and {"error", "source"} <= set(headers)
    return SteadyCheck(name="dead-letters", passed=ok,
                       detail=f"{letters} dead letters in the log, {missing} poison records without one; "
                              f"headers of the first: {headers}")


def _first_headers(client: dict, topics: list[str]) -> dict[str, str]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**client, "group.id": "kafka-chaos-probe", "enable.auto.commit": False})
    try:
        for topic in topics:
            consumer.assign([TopicPartition(topic, p, 0) for p in consumer.list_topics(topic, timeout=10)
                             .topics[topic].partitions])
            for _ in range(20):
                msg = consumer.poll(0.5)
                if msg is not None and not msg.error():
                    return {k: v.decode(errors="replace") for k, v in (msg.headers() or [])}
        return {}
    finally:
        consumer.close()


def backpressure(history: History) -> SteadyCheck:
    kinds = history.events["kind"].astype(str)
    paused, resumed = int((kinds == "pause").sum()), int((kinds == "resume").sum())
    return SteadyCheck(name="backpressure", passed=paused > 0 and resumed > 0,
                       detail=f"fetching paused {paused} times and resumed {resumed} times")


def from_history(spec: SteadyState, history: History, events: list[dict], has_faults: bool) -> list[SteadyCheck]:
    checks = []
    if spec.throughput_recovers and has_faults:
        checks.append(throughput_recovery(history, events, spec.throughput_recovers.percent,
                                          spec.throughput_recovers.within_s))
    if spec.idle_consumers is not None:
        checks.append(idle_consumers(history, spec.idle_consumers))
    if spec.hot_partition_share_at_least is not None:
        checks.append(hot_partition_share(history, spec.hot_partition_share_at_least))
    if spec.backpressure_engaged:
        checks.append(backpressure(history))
    return checks
