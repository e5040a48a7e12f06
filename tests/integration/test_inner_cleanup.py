"""Nothing of power loss, clock skew or protocol faults outlives a harness killed mid-fault:
`kafka-chaos cluster down --name` removes the lazyfs daemons and mounts, the JVMs with their
preloaded clocks, and the protocol proxy with its rules."""

from __future__ import annotations

import signal
import subprocess
import sys

import psutil
import pytest

from harness.cluster import state as state_store
from harness.kafkaproxy import client as kafkaproxy
from harness.lazyfs import mount as lazy

pytestmark = [pytest.mark.cluster, pytest.mark.slow]  # a cluster of its own: about a minute

HARNESS = """
import random, sys, time, pathlib
from harness.cluster.local import LocalCluster
from harness.cluster.spec import ClusterSpec, NodeHooks, ProxySpec
from harness.events import EventLog
from harness.faults import FAULTS, Env
from harness.faults.runner import FaultRunner
from harness.faults.schedule import Planned

spec = ClusterSpec(name="fltk", subnet=71, port_base=25000, hooks=NodeHooks(lazyfs=True, faketime=True),
                   proxy=ProxySpec(kafka=True))
cluster = LocalCluster(spec, pathlib.Path(sys.argv[1])).start()
runner = FaultRunner(Env(cluster=cluster, events=EventLog(None), rng=random.Random(1)), [])
for i, fault in enumerate([{"fault": "clock-skew", "target": 2, "offset_s": 600},
                           {"fault": "error-response", "apis": ["Produce"], "error": "NOT_LEADER_OR_FOLLOWER"},
                           {"fault": "power-loss", "target": 1}]):
    assert runner.inject(Planned(i, 0, 0, FAULTS[fault["fault"]].model_validate(fault))) is not None
print("injected", flush=True)
time.sleep(600)
"""


def leftovers() -> list[str]:
    found = [f"lazyfs mount {m}" for m in lazy.mounts("fltk")]
    found += [f"lazyfs daemon {p.pid}" for p in lazy.daemons("fltk")]
    found += [f"protocol proxy {p.pid}" for p in kafkaproxy.processes("fltk")]
    found += [f"JVM {p.pid}" for p in state_store.marked_processes("fltk")]
    for proc in psutil.process_iter(["environ"]):
        if "faketime" in ((proc.info["environ"] or {}).get("LD_PRELOAD") or "") and \
                "fltk" in " ".join(proc.cmdline()):
            found.append(f"preloaded process {proc.pid}")
    return found


def test_cluster_down_after_a_harness_killed_mid_fault_leaves_nothing(tmp_path):
    harness = subprocess.Popen([sys.executable, "-c", HARNESS, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert harness.stdout.readline().strip() == "injected"
        assert len(lazy.mounts("fltk")) == 3 and kafkaproxy.processes("fltk"), "provisioned"
        harness.send_signal(signal.SIGKILL)
        harness.wait()
        assert leftovers(), "the killed harness left its cluster behind"
    finally:
        harness.kill()
        down = subprocess.run([sys.executable, "-m", "harness", "cluster", "down", "--name", "fltk"],
                              capture_output=True, text=True, timeout=300)
    assert down.returncode == 0, down.stderr
    assert leftovers() == []
