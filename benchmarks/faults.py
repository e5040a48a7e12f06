"""How long from a fault's scheduled moment to its effect, on a 3-node cluster.

    python benchmarks/faults.py [--runs 5] [--backend docker]

  kill_gone_ms        SIGKILL sent -> the process is gone
  drop_first_ms       partition rule inserted -> its first dropped packet (iptables counters)
  isr_shrink_s        leader isolated -> it is out of its partition's ISR
  new_leader_s        leader isolated -> another node leads the partition
  schedule_lag_ms     a timeline step's scheduled moment -> the fault in effect (runner's lag)
  disk_fill_ms        full-disk fault: the node's 256 MB disk filled
  disk_down_s         full-disk fault injected -> the node has taken itself down (ENOSPC), idle cluster
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from harness.cluster.local import LocalCluster
from harness.cluster.spec import ClusterSpec
from harness.events import EventLog
from harness.faults import FAULTS, Env
from harness.faults.runner import FaultRunner
from harness.faults.schedule import Planned
from harness.net import iptables

TOPIC = "bench-faults"


def until(condition, timeout: float = 120, step: float = 0.005) -> float:
    started = time.monotonic()
    while not _safe(condition):
        if time.monotonic() - started > timeout:
            raise TimeoutError
        time.sleep(step)
    return time.monotonic() - started


def _safe(condition) -> bool:
    try:
        return bool(condition())
    except Exception:  # noqa: BLE001
        return False


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def make_cluster(backend: str, workdir: Path):
    if backend == "docker":
        from harness.cluster.containers.cluster import DockerCluster

        from harness.cluster.containers.spec import DockerSpec

        return DockerCluster(ClusterSpec(name="dkbenchf", subnet=126, port_base=41000, disk_mb=256,
                                         docker=DockerSpec()), workdir)
    return LocalCluster(ClusterSpec(name="benchf", subnet=62, port_base=27000, disk_mb=256), workdir)


def namespace(cluster, node: int) -> iptables.Namespace:
    """Where node's rules are: a lab namespace, or the namespace a container joins."""
    return cluster.node(node).netns() if hasattr(cluster.node(node), "netns") else cluster.lab.namespace(node)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backend", choices=("local", "docker"), default="local")
    args = parser.parse_args()
    results = {k: [] for k in ("kill_gone_ms", "drop_first_ms", "isr_shrink_s", "new_leader_s", "schedule_lag_ms",
                               "disk_fill_ms", "disk_down_s")}
    with tempfile.TemporaryDirectory() as scratch, make_cluster(args.backend, Path(scratch)) as cluster:
        cluster.admin().create_topic(TOPIC, 3, 3, {"min.insync.replicas": "2"})
        cluster.wait_in_sync([TOPIC])
        env = Env(cluster=cluster, events=EventLog(None), rng=random.Random(1))
        for run in range(args.runs):
            node = cluster.node(1 + run % 3)
            pid = node.pid
            started = time.monotonic()
            node.kill()
            until(lambda: gone(pid), step=0.0005)
            results["kill_gone_ms"].append((time.monotonic() - started) * 1000)
            node.start()
            cluster.wait_in_sync([TOPIC])

            leader = cluster.leader(TOPIC, 0)
            runner = FaultRunner(env, [])
            isolate = FAULTS["partition"](shape="isolate", target=leader)
            where = namespace(cluster, leader)
            before = iptables.dropped(where)
            started = time.monotonic()
            scheduled = time.monotonic_ns()
            runner.inject(Planned(run, 0, 0, isolate), scheduled)
            results["schedule_lag_ms"].append(env.events.events[-1]["lag_ms"])
            results["drop_first_ms"].append(
                until(lambda: iptables.dropped(where) > before, step=0.001) * 1000)
            until(lambda: leader not in cluster.isr(TOPIC, 0))
            results["isr_shrink_s"].append(time.monotonic() - started)
            until(lambda: cluster.leader(TOPIC, 0) not in (None, leader))
            results["new_leader_s"].append(time.monotonic() - started)
            runner.heal_all()
            cluster.wait_in_sync([TOPIC])

            full = cluster.node(1 + (run + 1) % 3)
            started = time.monotonic()
            runner.inject(Planned(run, 0, 0, FAULTS["full-disk"](target=full.id)))
            results["disk_fill_ms"].append((time.monotonic() - started) * 1000)
            until(lambda: full.status == "dead")
            results["disk_down_s"].append(time.monotonic() - started)
            runner.heal_all()
            cluster.wait_in_sync([TOPIC])
            print(f"run {run + 1}: " + " ".join(f"{k}={v[-1]:.3f}" for k, v in results.items()), flush=True)
    print(" ".join(f"{name}={statistics.median(values):.3f}" for name, values in results.items()))


if __name__ == "__main__":
    main()
