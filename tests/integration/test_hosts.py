"""The ssh and external backends on a cluster they did not create: three "hosts" (network
namespaces on a lab bridge, each with its own sshd and a Kafka node started by the fixture,
tests/hosts.py). The harness gets only addresses, an SSH key, a known_hosts file and the
experiment."""

from __future__ import annotations

import json
import re
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.cluster import metadata
from harness.cluster.backend import Capability
from harness.cluster.ssh import SshCluster
from harness.cluster.ssh_config import SshClusterConfig
from harness.events import EventLog, read_events
from harness.faults import FAULTS, Env, heal_leftovers
from harness.net import iptables
from harness.net.command import run
from harness.process import ProcessState
from harness.workload.producer import FLUSH_TIMEOUT_S
from tests.hosts import Hosts, available
from tests.support import eventually

pytestmark = [pytest.mark.cluster, pytest.mark.skipif(available() is not None, reason=str(available()))]

EXAMPLES = Path(__file__).resolve().parents[2] / "harness" / "catalogue" / "existing-clusters"
CATALOGUE = Path(__file__).resolve().parents[2] / "harness" / "catalogue"


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    built = Hosts(tmp_path_factory.mktemp("hosts"), name="sshlab", subnet=90).start()
    try:
        yield built
    finally:
        built.stop()


@pytest.fixture
def cluster(hosts, tmp_path):
    """The ssh backend on the hosts, taken up as a run would; whatever a test left is healed."""
    backend = SshCluster(SshClusterConfig.model_validate(hosts.ssh_cluster()), tmp_path).start()
    yield backend
    heal_leftovers(backend)
    backend.wait_ready()
    backend.destroy()
    assert all(not _ours(hosts.rules(n)) for n in hosts.node_ids), "a rule survived"


def _ours(rules: list[str]) -> list[str]:
    return [r for r in rules if f"{iptables.TAG}:" in r]


def kafka_chaos(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=timeout)


def experiment(tmp_path: Path, source: Path, **changes) -> Path:
    data = yaml.safe_load(source.read_text()) | changes
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def records(out: Path) -> dict[str, dict]:
    return {json.loads(p.read_text())["experiment"]: json.loads(p.read_text()) for p in out.glob("*/run.json")}


def reachable(address: str) -> bool:
    try:
        metadata.fetch(address, [], timeout=1.0)
        return True
    except OSError:
        return False


# ---- every fault kind over SSH, its effect and its heal ------------------------------------------


def test_a_partition_and_a_pause_over_ssh_show_their_effect_and_heal(hosts, cluster, tmp_path):
    """The ssh backend end to end, in the default set: iptables rules tagged with the run on the
    hosts, and a signal to a broker found by its pid file, each undone by its heal."""
    env = Env(cluster=cluster, events=EventLog(tmp_path / "events.jsonl"), rng=random.Random(1))
    assert {Capability.PROCESSES, Capability.NETWORK, Capability.DISKS} <= cluster.capabilities

    injected = FAULTS["partition"](shape="isolate", target=3).inject(env)
    assert len(_ours(hosts.rules(3))) == 2 and all(len(_ours(hosts.rules(n))) == 1 for n in (1, 2))
    probe = ["ip", "netns", "exec", hosts.kafka.lab.namespace(1), "timeout", "2", "bash", "-c",
             f"</dev/tcp/{hosts.address(3)}/9092"]
    assert run(probe, check=False).returncode != 0, "node 1 still reaches node 3"
    injected.heal()
    assert not any(_ours(hosts.rules(n)) for n in hosts.node_ids)
    assert run(probe, check=False).returncode == 0

    injected = FAULTS["pause"](target=2).inject(env)
    assert hosts.broker_state(2) == "T"
    injected.heal()
    assert hosts.broker_state(2) not in ("T", "gone", "Z")


@pytest.mark.slow
def test_the_other_ssh_fault_kinds_show_their_effect_and_heal(hosts, cluster, tmp_path):
    env = Env(cluster=cluster, events=EventLog(tmp_path / "events.jsonl"), rng=random.Random(1))

    before = hosts.broker_pid(1)
    injected = FAULTS["kill"](target=1).inject(env)
    assert hosts.broker_state(1) in ("gone", "Z") and cluster.node(1).status == ProcessState.DEAD
    injected.heal()
    assert cluster.node(1).status == ProcessState.RUNNING and hosts.broker_pid(1) != before

    injected = FAULTS["stop"](target=3).inject(env)
    assert hosts.broker_state(3) in ("gone", "Z")
    injected.heal()
    assert cluster.node(3).status == ProcessState.RUNNING
    cluster.wait_ready()

    injected = FAULTS["partition"](shape="bridge").inject(env)  # two hosts cut apart, the third reaches both
    assert sorted(len(_ours(hosts.rules(n))) for n in hosts.node_ids) == [0, 1, 1]
    injected.heal()
    assert not any(_ours(hosts.rules(n)) for n in hosts.node_ids)

    injected = FAULTS["cut-clients"](target=2).inject(env)
    assert not reachable(f"{hosts.address(2)}:9092")
    assert cluster.node(2).status == ProcessState.RUNNING, "the SSH session is spared"
    injected.heal()
    assert reachable(f"{hosts.address(2)}:9092")

    injected = FAULTS["full-disk"](target=2).inject(env)
    disk = hosts.kafka.node(2).disk_dir
    assert int(run(["df", "--output=avail", "-B1", str(disk)]).stdout.split()[-1]) < 2**20
    injected.heal()
    assert int(run(["df", "--output=avail", "-B1", str(disk)]).stdout.split()[-1]) > 100 * 2**20

    data_dir = str(hosts.kafka.node(1).data_dir)
    injected = FAULTS["read-only-log-dir"](target=1).inject(env)
    mounts = Path(f"/proc/{hosts.broker_pid(1)}/mounts").read_text().splitlines()
    assert any(line.split()[1] == data_dir and "ro" in line.split()[3].split(",") for line in mounts)
    injected.heal()
    eventually(lambda: cluster.node(1).status == ProcessState.RUNNING, timeout=60)
    mounts = Path(f"/proc/{hosts.broker_pid(1)}/mounts").read_text().splitlines()
    assert not any(line.split()[1] == data_dir and "ro" in line.split()[3].split(",") for line in mounts)


# ---- whole runs --------------------------------------------------------------------------------


@pytest.mark.slow
def test_ssh_runs_give_the_verdicts_their_experiments_expect(hosts, tmp_path):
    """A known-good run (the leader killed over SSH) passes; a known-bad one (the leader cut off
    the other hosts with iptables there) is caught, its segment files read over SFTP."""
    cluster = hosts.ssh_cluster()
    good = experiment(tmp_path, EXAMPLES / "ssh-leader-kill.yaml", cluster=cluster)
    bad = experiment(tmp_path, CATALOGUE / "acks1-unclean-leader-isolation.yaml", cluster=cluster,
                     phases={"steady_s": 2, "faults_s": 16, "recovery_s": 8})
    out = tmp_path / "runs"
    result = kafka_chaos("run", str(good), str(bad), "--out", str(out))
    outcomes = {name: r["outcome"] for name, r in records(out).items()}
    assert outcomes == {"ssh-leader-kill": "pass", "acks1-unclean-leader-isolation": "caught-as-expected"}, \
        result.stdout + result.stderr
    assert result.returncode == 0
    for run_dir in out.glob("*-*/"):
        logs = list((run_dir / "cluster").glob("node-*.log"))
        assert len(logs) == 3 and all(log.stat().st_size > 0 for log in logs), "broker logs fetched over SFTP"
        assert any(e["source"] == "observer" for e in read_events(run_dir)), "the observer sampled the cluster"
    [bad_run] = out.glob("*-acks1-unclean-leader-isolation")
    lost = json.loads((bad_run / "verdict.json").read_text())["anomalies"]["lost-write"]
    assert lost and (bad_run / "disk" / "scanned.json").exists()
    assert {s["node"] for s in json.loads((bad_run / "disk" / "scanned.json").read_text())} == {1, 2, 3}
    assert not any(_ours(hosts.rules(n)) for n in hosts.node_ids)


@pytest.mark.slow
def test_external_backend_runs_client_side_faults_only(hosts, tmp_path):
    cluster = hosts.external_cluster()
    path = experiment(tmp_path, EXAMPLES / "external-client-path.yaml", cluster=cluster)
    out = tmp_path / "runs"
    result = kafka_chaos("run", str(path), "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    [run_dir] = out.glob("*-external-client-path")
    injected = [e for e in read_events(run_dir) if e["source"] == "fault" and e["kind"] == "inject"]
    assert [e["fault"] for e in injected] == ["cut-clients", "latency", "kill-worker"], injected
    assert "this machine: iptables" in json.dumps(injected[0]) and "toxic" in json.dumps(injected[1])
    here = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert "kafka-chaos:extlab" not in here, "a rule or redirect of the run was left on this machine"
    assert not any(_ours(hosts.rules(n)) for n in hosts.node_ids), "the external backend touched a host"

    refused = experiment(tmp_path, CATALOGUE / "leader-kill-acks-all.yaml", cluster=cluster)
    result = kafka_chaos("validate", str(refused))
    assert result.returncode == 2
    assert "kill needs processes; backend external offers" in result.stderr


def test_cluster_heal_removes_what_a_sigkilled_harness_left_on_the_hosts(hosts, tmp_path):
    long = experiment(tmp_path, CATALOGUE / "minority-partition.yaml", cluster=hosts.ssh_cluster(),
                      phases={"steady_s": 1, "faults_s": 120, "recovery_s": 1})
    data = yaml.safe_load(long.read_text())
    data["faults"] = {"kind": "timeline", "steps": [
        {"at": 0, "duration": 110, "fault": {"fault": "partition", "shape": "isolate", "target": 3}}]}
    long.write_text(yaml.safe_dump(data))
    out = tmp_path / "runs"
    harness = subprocess.Popen([sys.executable, "-m", "harness", "run", str(long), "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        eventually(lambda: any(_ours(hosts.rules(n)) for n in hosts.node_ids), timeout=180)
        for helper in "workload", "observe":
            assert subprocess.run(["pgrep", "-f", f"harness.{helper} {out}"], capture_output=True).stdout, helper
    finally:
        harness.send_signal(signal.SIGKILL)
        harness.wait()
    assert any(_ours(hosts.rules(n)) for n in hosts.node_ids), "the killed harness left its rules"
    healed = kafka_chaos("cluster", "heal", "--name", "sshlab")
    assert healed.returncode == 0, healed.stderr
    assert "kafka-chaos:sshlab:partition-" in healed.stderr
    assert not any(_ours(hosts.rules(n)) for n in hosts.node_ids)
    # the orphaned workers and observer of this run stop by themselves: a producer flushes for up
    # to FLUSH_TIMEOUT_S (+5 s) first, so give them that and a margin
    mine = ["pgrep", "-f", rf"harness\.(workload|observe) {out}"]
    eventually(lambda: not subprocess.run(mine, capture_output=True).stdout, timeout=FLUSH_TIMEOUT_S + 30)


def test_dry_run_runs_nothing_on_any_host(hosts, tmp_path):
    path = experiment(tmp_path, CATALOGUE / "minority-partition.yaml", cluster=hosts.ssh_cluster())
    before = hosts.state()
    result = kafka_chaos("run", "--dry-run", str(path), "--out", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stderr
    for node in hosts.node_ids:
        assert f"  {hosts.address(node)}:" in result.stdout
    assert "iptables -w -A INPUT" in result.stdout and "nothing is run" in result.stdout
    assert hosts.state() == before, "a dry run changed a host (rules, brokers or logins)"
    assert not (tmp_path / "runs").exists()


def _unused_key(tmp_path: Path) -> str:
    key = tmp_path / "stranger"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
    return str(key)


BAD = {
    "unreachable": (lambda h, t: h.ssh_cluster(ssh={**h.ssh_cluster()["ssh"], "timeout_s": 2},
                                               hosts=[*h.ssh_cluster()["hosts"][:2],
                                                      {**h.ssh_cluster()["hosts"][2], "address": "198.18.90.99"}]),
                    r"host 198\.18\.90\.99: (no SSH answer on port 22|cannot connect over SSH to port 22)"),
    "wrong key": (lambda h, t: h.ssh_cluster(ssh={**h.ssh_cluster()["ssh"], "key_file": _unused_key(t)}),
                  r"host 198\.18\.90\.11: authentication as root failed with key .*stranger"),
    "wrong host key": (lambda h, t: h.ssh_cluster(hosts=[{**h.ssh_cluster()["hosts"][0],
                                                          "host_key": h.host_fingerprint(2)},
                                                         *h.ssh_cluster()["hosts"][1:]]),
                       r"host 198\.18\.90\.11: its host key is SHA256:\S+, not SHA256:\S+ as the experiment says"),
    "systemd unit": (lambda h, t: {k: v for k, v in h.ssh_cluster().items()} | {
        "broker": {"systemd_unit": "kafka-nope.service", "data_dirs": ["/tmp"], "log_file": "/etc/hostname"},
        "hosts": [{k: v for k, v in host.items() if k != "broker"} for host in h.ssh_cluster()["hosts"]]},
        # these hosts run no systemd; on one that does, the unit is not found
        r"host 198\.18\.90\.11: (systemctl cannot tell about unit|systemd unit) kafka-nope\.service"),
    "pid not found": (lambda h, t: h.ssh_cluster(hosts=[*h.ssh_cluster()["hosts"][:1], {
        **h.ssh_cluster()["hosts"][1], "broker": {**h.broker(2), "pid_file": "/nonexistent/kafka.pid"}},
        *h.ssh_cluster()["hosts"][2:]]),
        r"host 198\.18\.90\.12: the broker's pid cannot be found \(no pid from pid file /nonexistent/kafka\.pid\)"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD))
def test_bad_hosts_are_one_line_naming_the_host_exit_3_nothing_done(hosts, tmp_path, case):
    make, expected = BAD[case]
    path = experiment(tmp_path, EXAMPLES / "ssh-leader-kill.yaml", cluster=make(hosts, tmp_path))
    before = [hosts.state()[n][:3] for n in hosts.node_ids]
    result = kafka_chaos("run", str(path), "--out", str(tmp_path / "runs"), timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(expected, lines[0]), result.stderr
    assert not (tmp_path / "runs").exists(), "a run started"
    assert [hosts.state()[n][:3] for n in hosts.node_ids] == before


@pytest.mark.slow
def test_hosts_outside_the_lab_range_need_yes(hosts, tmp_path):
    cluster = hosts.ssh_cluster(hosts=[{**hosts.ssh_cluster()["hosts"][0], "address": "127.0.0.1"}],
                                bootstrap=f"{hosts.address(1)}:9092")
    data = yaml.safe_load((EXAMPLES / "ssh-leader-kill.yaml").read_text())
    data |= {"cluster": cluster, "topics": [{"name": "orders", "partitions": 1, "replication_factor": 1}],
             "faults": None}
    path = tmp_path / "outside.yaml"
    path.write_text(yaml.safe_dump(data))
    result = subprocess.run([sys.executable, "-m", "harness", "run", str(path), "--out", str(tmp_path / "runs")],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 2 and "127.0.0.1" in result.stderr and "--yes" in result.stderr
    assert not (tmp_path / "runs").exists()

