"""Each fault on a real cluster: its effect, and its heal. After every test nothing is left:
no iptables rule, no toxic, no paused node or worker."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time

import psutil
import pytest
from confluent_kafka import Producer

from harness.clientlog import CLIENT_LOG
from harness.history.load import load_history
from harness.mounts import FILLER, mounts_under
from harness.net import iptables
from harness.workload.config import ConsumerConfig, ProducerConfig, Semantics, TransactionSpec
from harness.workload.launcher import Workload
from tests.support import eventually, fault_env, run_fault

pytestmark = pytest.mark.cluster


@pytest.fixture
def env(cluster, tmp_path):
    with fault_env(cluster, tmp_path) as env:
        yield env


@pytest.fixture(autouse=True)
def nothing_left_behind(cluster):
    yield
    for node in cluster.nodes.values():
        assert iptables.tagged(node.layout.namespace) == [], "a fault's rule survived its heal"
        assert node.status != "paused"
        assert node.pid is None or mounts_under(node.pid, str(node.data_dir)) == []
        assert not (node.disk_dir / FILLER).exists(), "a full disk survived its heal"
    assert all(toxics == [] for toxics in cluster.toxiproxy.toxics().values()), "a toxic survived its heal"
    workers = [p for p in psutil.process_iter(["cmdline"]) if "harness.workload" in (p.info["cmdline"] or [])]
    assert workers == [], "a worker outlived its test"


def make_topic(cluster, name: str, partitions: int = 3) -> str:
    cluster.admin().create_topic(name, partitions, 3, {"min.insync.replicas": "2"})
    cluster.wait_in_sync([name])
    return name


def send(bootstrap: str, topic: str, count: int, partition: int | None = None, **config) -> tuple[list, list]:
    """(acknowledged latencies in seconds, errors) of `count` sends with acks=all."""
    acked, errors = [], []

    def on_delivery(err, msg):
        (errors.append(err) if err else acked.append(msg.latency()))

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0, "logger": CLIENT_LOG, **config})
    for i in range(count):
        kwargs = {} if partition is None else {"partition": partition}
        producer.produce(topic, value=b"x" * 100, on_delivery=on_delivery, **kwargs)
        producer.poll(0)
    producer.flush(120)
    return acked, errors


def addresses(cluster, ids) -> str:
    return ",".join(cluster.node(i).layout.broker_address for i in ids)


# ---- network partitions ------------------------------------------------------------------------


def test_isolated_leader_loses_leadership_and_rejoins_the_isr_when_healed(cluster, env, topic_name):
    topic = make_topic(cluster, topic_name)
    leader = cluster.leader(topic, 0)
    others = sorted(set(cluster.nodes) - {leader})
    with run_fault(env, {"fault": "partition", "shape": "isolate", "target": {"leader": {"topic": topic}}}):
        eventually(lambda: leader not in cluster.isr(topic, 0) and cluster.leader(topic, 0) in others, timeout=90)
        # Clients on the majority side: the isolated node, still claiming leadership, is out of their reach.
        with run_fault(env, {"fault": "cut-clients", "target": leader}):
            acked, errors = send(addresses(cluster, others), topic, 200)
        assert errors == [] and len(acked) == 200, "the majority side keeps accepting acks=all writes"
    eventually(lambda: leader in cluster.isr(topic, 0), timeout=120)


def test_isolated_controller_is_replaced(cluster, env):
    controller = eventually(cluster.active_controller)
    with run_fault(env, {"fault": "partition", "shape": "isolate", "target": "controller"}):
        eventually(lambda: cluster.active_controller() not in (None, controller), timeout=90)
    eventually(lambda: cluster.active_controller() is not None, timeout=60)


def test_minority_refuses_acks_all_writes_and_the_majority_takes_them(cluster, env, topic_name):
    topic = make_topic(cluster, topic_name, partitions=1)
    minority = cluster.leader(topic, 0)
    majority = sorted(set(cluster.nodes) - {minority})
    with run_fault(env, {"fault": "partition", "shape": "minority", "target": minority}):
        acked, errors = send(addresses(cluster, [minority]), topic, 20, partition=0, **{"message.timeout.ms": 8000})
        assert acked == [] and len(errors) == 20
        assert {e.name() for e in errors} <= {"_MSG_TIMED_OUT", "NOT_ENOUGH_REPLICAS", "REQUEST_TIMED_OUT"}
        # A client that can reach the minority node may keep trusting its stale claim to lead;
        # a client on the majority side cannot reach it.
        with run_fault(env, {"fault": "cut-clients", "target": minority}):
            acked, errors = send(addresses(cluster, majority), topic, 20, partition=0)
        assert errors == [] and len(acked) == 20


def test_cut_clients_stops_the_path_and_heal_restores_it(cluster, env, topic_name):
    topic = make_topic(cluster, topic_name, partitions=1)
    with run_fault(env, {"fault": "cut-clients"}):
        acked, errors = send(cluster.bootstrap_servers, topic, 5, **{"message.timeout.ms": 4000})
        assert acked == [] and len(errors) == 5
    acked, errors = send(cluster.bootstrap_servers, topic, 5)
    assert errors == [] and len(acked) == 5


LISTEN = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 9999)); s.settimeout(0.5)
print("ready", flush=True); got, quiet = 0, time.monotonic() + 3
while time.monotonic() < quiet:
    try:
        s.recv(64); got += 1; quiet = time.monotonic() + 1
    except socket.timeout:
        pass
print(got)
"""
SEND = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    s.sendto(b"x", (sys.argv[1], 9999)); time.sleep(0.0005)
"""


def delivered(cluster, sender: str | None, receiver: int, count: int = 2000) -> float:
    """The share of `count` UDP datagrams from namespace `sender` (None: the clients' side) that
    node `receiver` got."""
    def inside(namespace: str | None, *command: str) -> list[str]:
        return ["ip", "netns", "exec", namespace, *command] if namespace else list(command)

    address = cluster.lab.address(receiver)
    listener = subprocess.Popen(inside(cluster.lab.namespace(receiver), sys.executable, "-c", LISTEN, address),
                                stdout=subprocess.PIPE, text=True)
    assert listener.stdout.readline().strip() == "ready"
    subprocess.run(inside(sender, sys.executable, "-c", SEND, address, str(count)), check=True, timeout=60)
    return int(listener.communicate(timeout=30)[0].strip()) / count


def test_packet_loss_drops_about_the_share_asked_both_ways_and_heals(cluster, env):
    two = cluster.lab.namespace(2)
    with run_fault(env, {"fault": "packet-loss", "share": 0.3, "target": 1}):
        into, out_of = delivered(cluster, two, 1), delivered(cluster, cluster.lab.namespace(1), 2)
        clients = delivered(cluster, None, 1)
    assert 0.64 <= into <= 0.76 and 0.64 <= out_of <= 0.76, (into, out_of)  # 70 % ± 6 (binomial sd ~1 %)
    assert clients > 0.99, "peers: nodes leaves the clients' path alone"
    assert delivered(cluster, two, 1) > 0.99, "healed"
    with run_fault(env, {"fault": "packet-loss", "share": 0.5, "target": 1, "peers": "clients", "one_way": True}):
        clients, between = delivered(cluster, None, 1), delivered(cluster, two, 1)
    assert 0.43 <= clients <= 0.57 and between > 0.99, (clients, between)


# ---- degraded network through toxiproxy ---------------------------------------------------------


def latencies_ms(cluster, topic: str, count: int = 20) -> list[float]:
    """Round trips of `count` sends, one at a time, from a producer already connected:
    neither connection setup nor queueing behind other sends counts as latency."""
    producer = Producer({"bootstrap.servers": cluster.client_bootstrap_servers, "acks": "all", "linger.ms": 0,
                         "logger": CLIENT_LOG})
    producer.produce(topic, value=b"warm-up")
    assert producer.flush(120) == 0
    latencies = []
    for _ in range(count):
        producer.produce(topic, value=b"x" * 100, on_delivery=lambda err, msg: latencies.append(
            None if err else msg.latency()))
        assert producer.flush(60) == 0
    assert None not in latencies
    return [latency * 1000 for latency in latencies]


def test_latency_on_the_client_path_adds_to_produce_latency(cluster, env, topic_name):
    topic = make_topic(cluster, topic_name, partitions=1)
    before = statistics.median(latencies_ms(cluster, topic))
    with run_fault(env, {"fault": "latency", "ms": 300}):
        during = latencies_ms(cluster, topic)
    after = statistics.median(latencies_ms(cluster, topic))
    assert min(during) >= 300, "every round trip waits for the toxic's 300 ms"
    assert statistics.median(during) >= before + 0.9 * 300, (before, during)  # 2-core jitter on the rest
    assert after < before + 150, (before, after)


def test_bandwidth_limit_caps_throughput(cluster, env, topic_name):
    topic = make_topic(cluster, topic_name, partitions=1)
    with run_fault(env, {"fault": "bandwidth", "kb_per_s": 100, "stream": "upstream"}):
        started = time.monotonic()
        acked, errors = send(cluster.client_bootstrap_servers, topic, 3000)  # about 400 KB on the wire
        elapsed = time.monotonic() - started
    assert errors == [] and len(acked) == 3000
    assert elapsed >= 3.0, f"{elapsed:.1f}s: the 100 KB/s cap did not hold"


def test_reset_peer_breaks_connections_and_the_client_recovers(cluster, env, topic_name):
    topic = make_topic(cluster, topic_name, partitions=1)
    with run_fault(env, {"fault": "reset-peer", "after_ms": 0}):
        acked, errors = send(cluster.client_bootstrap_servers, topic, 5, **{"message.timeout.ms": 4000})
        assert acked == []
    acked, errors = send(cluster.client_bootstrap_servers, topic, 5)
    assert errors == [] and len(acked) == 5


# ---- processes -------------------------------------------------------------------------------------


def test_pause_freezes_a_node_and_heal_resumes_it(cluster, env):
    with run_fault(env, {"fault": "pause", "target": 2}):
        assert cluster.node(2).status == "paused"
    assert cluster.node(2).status == "running"


def test_kill_is_healed_by_a_restart(cluster, env, topic_name):
    topic = make_topic(cluster, topic_name)
    killed = cluster.node(3).process
    with run_fault(env, {"fault": "kill", "target": 3}):
        assert cluster.node(3).status == "dead" and not killed.alive
    assert cluster.node(3).status == "running" and cluster.node(3).process != killed
    cluster.wait_in_sync([topic])


def test_bouncing_the_leader_twice_leaves_the_partition_in_sync(cluster, env, topic_name):
    topic = make_topic(cluster, topic_name)
    first = cluster.leader(topic, 0)
    with run_fault(env, {"fault": "bounce-leader", "partition": {"topic": topic}, "times": 2}):
        pass
    bounced = env.events.events[0]["targets"]
    assert bounced[0] == first and bounced[1] != first, "each bounce hits the leader of the moment"
    assert cluster.partition(topic, 0).fully_replicated


def test_rolling_restart_restarts_every_node_in_turn(cluster, env, topic_name):
    topic = make_topic(cluster, topic_name)
    pids = {n.id: n.pid for n in cluster.nodes.values()}
    with run_fault(env, {"fault": "rolling-restart", "topics": [topic]}):
        pass
    assert all(cluster.node(i).pid != pid for i, pid in pids.items())
    assert all(p.fully_replicated for p in cluster.partitions(topic))


def test_read_only_log_dir_takes_the_broker_down_and_heal_brings_it_back(cluster, env, topic_name):
    topic = make_topic(cluster, topic_name)
    victim = cluster.leader(topic, 0)
    with run_fault(env, {"fault": "read-only-log-dir", "target": victim}):
        send(cluster.bootstrap_servers, topic, 50, **{"message.timeout.ms": 10000})  # writes hit the dead disk
        eventually(lambda: cluster.node(victim).status == "dead", timeout=90)
    eventually(lambda: victim in cluster.isr(topic, 0), timeout=120)


def test_full_disk_takes_the_broker_down_and_heal_brings_it_back(cluster, env, topic_name):
    topic = make_topic(cluster, topic_name)
    victim = cluster.leader(topic, 0)
    disk = cluster.node(victim).disk_dir
    with run_fault(env, {"fault": "full-disk", "target": victim}):
        assert shutil.disk_usage(disk).free < 64 * 1024, "the filler took the disk"
        send(cluster.bootstrap_servers, topic, 50, **{"message.timeout.ms": 10000})  # appends hit the full disk
        eventually(lambda: cluster.node(victim).status == "dead", timeout=90)
        assert "No space left on device" in cluster.node(victim).log_file.read_text(errors="replace")
    assert shutil.disk_usage(disk).free > 512 * 1024 * 1024
    eventually(lambda: victim in cluster.isr(topic, 0), timeout=120)


# ---- cluster operations ----------------------------------------------------------------------------


def test_add_partitions_and_preferred_leader_election(cluster, env, topic_name):
    topic = make_topic(cluster, topic_name, partitions=2)
    with run_fault(env, {"fault": "add-partitions", "topic": topic, "to": 4}):
        assert len(cluster.partitions(topic)) == 4
    preferred = cluster.partition(topic, 0).replicas[0]
    with run_fault(env, {"fault": "kill", "target": preferred}):
        eventually(lambda: cluster.leader(topic, 0) not in (None, preferred), timeout=60)
    cluster.wait_in_sync([topic])
    with run_fault(env, {"fault": "elect-preferred-leader", "partitions": [{"topic": topic, "partition": 0}]}):
        pass
    eventually(lambda: cluster.leader(topic, 0) == preferred, timeout=60)


# ---- clients ----------------------------------------------------------------------------------------


def test_killed_consumer_is_restarted_and_redelivers(cluster, env, topic_name, tmp_path):
    topic = make_topic(cluster, topic_name)
    with Workload(tmp_path / "run", cluster.bootstrap_servers, Semantics.AT_LEAST_ONCE) as workload:
        env.workload = workload
        assert workload.start(ProducerConfig(name="p1", topics=[topic], messages=2000)).wait(60) == 0
        workload.start(ConsumerConfig(name="c1", topics=[topic], group="g", batch_size=100, processing_ms=5))
        # SIGKILL right after a commit would leave nothing to redeliver: the fault waits for its window
        with run_fault(env, {"fault": "kill-worker", "worker": "c1", "window": "processed-uncommitted"}):
            pass
        acked = set(load_history(workload.run_dir).sends["vid"])
        eventually(lambda: acked <= set(load_history(workload.run_dir).reads["vid"]), timeout=120)
        workload.stop_all()
    reads = load_history(workload.run_dir).reads
    assert set(reads["incarnation"]) == {1, 2}
    assert reads["vid"].duplicated().any(), "records processed before the kill but not committed come again"


def test_consumer_killed_holding_committed_unprocessed_records_loses_them(cluster, env, topic_name, tmp_path):
    """At-most-once's loss, every time: the fault waits until c1 has committed records it has not
    processed, so its next incarnation starts past them."""
    topic = make_topic(cluster, topic_name)
    with Workload(tmp_path / "run", cluster.bootstrap_servers, Semantics.AT_LEAST_ONCE) as workload:
        env.workload = workload
        assert workload.start(ProducerConfig(name="p1", topics=[topic], messages=3000)).wait(60) == 0
        workload.start(ConsumerConfig(name="c1", topics=[topic], group="g", commit="before-processing",
                                      batch_size=100, processing_ms=5))
        with run_fault(env, {"fault": "kill-worker", "worker": "c1", "window": "committed-unprocessed"}) as runner:
            assert "(committed-unprocessed)" in runner.active[0][1].text
        acked = load_history(workload.run_dir).sends
        last = acked.groupby("partition")["offset"].max()

        def caught_up() -> bool:
            reads = load_history(workload.run_dir).reads
            done = reads[reads["incarnation"] == 2].groupby("partition")["offset"].max()
            return all(done.get(p, -1) >= o for p, o in last.items())

        eventually(caught_up, timeout=120)
        workload.stop_all()
    reads = load_history(workload.run_dir).reads
    never = set(acked["vid"]) - set(reads["vid"])
    assert never, "records committed before processing were never processed by the group"


def test_consumer_paused_past_its_session_timeout_loses_its_partitions(cluster, env, topic_name, tmp_path):
    topic = make_topic(cluster, topic_name, partitions=4)
    with Workload(tmp_path / "run", cluster.bootstrap_servers, Semantics.AT_LEAST_ONCE) as workload:
        env.workload = workload
        for name in ("c1", "c2"):
            workload.start(ConsumerConfig(name=name, topics=[topic], group="g"))

        def assigned(worker: str) -> set:
            events = load_history(workload.run_dir).events
            mine = events[(events["worker"] == worker) & (events["kind"] == "assign")]
            latest = mine[mine["generation"] == mine["generation"].max()]
            return set(latest["partition"])

        eventually(lambda: assigned("c1") and assigned("c2"), timeout=60)
        with run_fault(env, {"fault": "pause-worker", "worker": "c1"}):
            eventually(lambda: assigned("c2") == {0, 1, 2, 3}, timeout=60)  # session timeout 10 s
        workload.stop_all()


def test_producer_killed_mid_transaction_leaves_it_unfinished_and_invisible(cluster, env, topic_name, tmp_path):
    topic = make_topic(cluster, topic_name)
    with Workload(tmp_path / "run", cluster.bootstrap_servers, Semantics.EXACTLY_ONCE) as workload:
        env.workload = workload
        workload.start(ProducerConfig(name="p1", topics=[topic], rate=500,
                                      transactions=TransactionSpec(size=200)))
        eventually(lambda: len(load_history(workload.run_dir).transactions) >= 2, timeout=60)
        with run_fault(env, {"fault": "kill-worker", "worker": "p1", "window": "in-transaction"}):
            pass  # healed: p1.2 starts with the same transactional id and fences p1.1's transaction
        eventually(lambda: (load_history(workload.run_dir).transactions.query("incarnation == 2")["outcome"]
                            == "committed").any(), timeout=60)
        workload.stop_all()
        workload.final_read([topic], timeout_s=60)
    history = load_history(workload.run_dir)
    killed = history.transactions.query("incarnation == 1 and outcome == 'unfinished'")
    assert len(killed) == 1, history.transactions.query("incarnation == 1")
    visible = history.reads[history.reads["worker"] == "final-read-committed"]
    open_txn = (killed["producer"].iloc[0], killed["txn"].iloc[0])
    assert not ((visible["producer"] == open_txn[0]) & (visible["txn"] == open_txn[1])).any()


# ---- the event log -----------------------------------------------------------------------------------


def test_every_inject_and_heal_is_recorded_with_what_was_applied(cluster, env):
    with run_fault(env, {"fault": "partition", "shape": "isolate", "target": 1}):
        pass
    inject, heal = [e for e in env.events.events if e["source"] == "fault"]
    assert inject["kind"] == "inject" and inject["targets"] == [1]
    assert any("-j DROP" in rule and "kafka-chaos:partition-" in rule for rule in inject["applied"])
    assert heal["kind"] == "heal" and "removed 4 rules" in heal["text"]  # 1 drops 2 and 3; 2 and 3 drop 1
    lines = (env.events.path).read_text().splitlines()
    assert len(lines) == 2
