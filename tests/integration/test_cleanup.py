"""Nothing is left behind: normal `cluster down`, a harness killed with SIGKILL, SIGTERM, Ctrl-C,
and a start that fails."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import pytest

from harness import mounts
from harness.cluster import state as state_store
from harness.cluster.local import LocalCluster
from harness.cluster.spec import ClusterSpec, NetworkMode
from harness.errors import EnvironmentProblem, UsageError
from harness.net import lab
from tests.support import eventually

pytestmark = pytest.mark.cluster


def kafka_chaos(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True,
                          timeout=300, **kwargs)


def leftovers(name: str) -> list[str]:
    found = [f"process {p.pid}" for p in state_store.marked_processes(name)]
    found += lab.namespaces(name) + lab.bridges(name) + mounts.disks(name)
    if state_store.state_file(name).exists():
        found.append("state file")
    rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
    found += [line for line in rules.splitlines() if "198.18." in line]
    return found


def start_in_background(name: str, subnet: int, tmp_path, *options: str) -> subprocess.Popen:
    """`cluster up` in a child process, returned once it has started all three JVMs."""
    started = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "harness", "cluster", "up", "--name", name,
                             "--subnet", str(subnet), "--dir", str(tmp_path), *options],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def jvms_started():
        recorded = state_store.read_state(name)
        assert recorded is not None and len(recorded.processes) == 3
        assert all(p.create_time >= started for p in recorded.processes.values()), "state of an earlier run"

    eventually(jvms_started, timeout=120)
    return proc


def test_up_status_down_leaves_nothing(tmp_path):
    up = kafka_chaos("cluster", "up", "--name", "updown", "--subnet", "44", "--dir", str(tmp_path))
    assert up.returncode == 0, up.stderr
    assert up.stdout.strip() == "198.18.44.11:9092,198.18.44.12:9092,198.18.44.13:9092"

    status = kafka_chaos("cluster", "status", "--name", "updown", "--json")
    info = json.loads(status.stdout)
    assert [n["status"] for n in info["nodes"]] == ["running"] * 3
    assert info["active_controller"] in {1, 2, 3}

    down = kafka_chaos("cluster", "down", "--name", "updown")
    assert down.returncode == 0, down.stderr
    assert leftovers("updown") == []


def test_down_cleans_up_after_harness_killed_with_sigkill(tmp_path):
    proc = start_in_background("killed", 45, tmp_path, "--disk-mb", "128")
    proc.kill()
    proc.wait()
    assert len(mounts.disks("killed")) == 3, "each node on a disk of its own"
    assert leftovers("killed"), "the killed harness should have left its cluster behind"

    down = kafka_chaos("cluster", "down")
    assert down.returncode == 0, down.stderr
    assert leftovers("killed") == []


def test_next_start_sweeps_a_cluster_whose_harness_died(tmp_path):
    proc = start_in_background("orphan", 48, tmp_path)  # killed before the cluster was ready: still its own
    proc.kill()
    proc.wait()
    assert leftovers("orphan")
    with LocalCluster(ClusterSpec(name="orphan", subnet=48), tmp_path / "again") as cluster:
        assert all(node.status == "running" for node in cluster.nodes.values())
    assert leftovers("orphan") == []


def test_a_running_cluster_someone_left_up_is_refused(tmp_path):
    assert kafka_chaos("cluster", "up", "--name", "kept", "--subnet", "49", "--dir", str(tmp_path)).returncode == 0
    try:
        with pytest.raises(UsageError, match="already running"):
            LocalCluster(ClusterSpec(name="kept", subnet=49), tmp_path / "again").start()
    finally:
        assert kafka_chaos("cluster", "down", "--name", "kept").returncode == 0
    assert leftovers("kept") == []


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, 130)])
def test_signal_during_start_cleans_up(tmp_path, sig, code):
    proc = start_in_background("signaled", 46, tmp_path)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code
    assert b"Traceback" not in stderr
    assert leftovers("signaled") == []


def test_invalid_broker_config_fails_start_and_cleans_up(tmp_path):
    spec = ClusterSpec(name="broken", subnet=47, broker_config={"num.io.threads": "many"})
    with pytest.raises(EnvironmentProblem, match="formatting node 1 failed: .*num.io.threads"):
        LocalCluster(spec, tmp_path).start()
    assert leftovers("broken") == []


def test_node_dying_during_start_fails_start_and_cleans_up(tmp_path):
    spec = ClusterSpec(name="taken", network=NetworkMode.LOOPBACK, port_base=23000)
    with socket.socket() as squatter:  # node 1's broker port is already taken
        squatter.bind(("127.0.0.1", 23001))
        squatter.listen()
        with pytest.raises(EnvironmentProblem, match="node 1 exited while starting: .*Address already in use"):
            LocalCluster(spec, tmp_path).start()
    assert leftovers("taken") == []
