"""What every backend's KRaft cluster answers the same way, whatever runs its nodes: partition
states from each broker's own Metadata (the freshest leader epoch wins), the active controller from
the controllers' quorum-state files, readiness and in-sync waits.

A backend mixes `KraftViews` in and provides `spec`, `nodes` (id -> node), `harness_client`,
`access` (a secured cluster's logins, else None), `_admin` (None until first asked for) and
`_fail_if_any_died()`; each node has `id`, `layout`, `status` and `quorum_view()`. The addresses,
the node lookup and the admin client then come from here.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from confluent_kafka import KafkaException
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from harness.cluster import metadata
from harness.cluster.admin import KafkaAdmin, PartitionState
from harness.errors import EnvironmentProblem, UsageError
from harness.process import ProcessState

READY_TOPIC = "kafka-chaos-ready"
METADATA_TIMEOUT_S = 1.5
QUORUM_STATE = "__cluster_metadata-0/quorum-state"  # under a controller's metadata log directory


class NotReady(Exception):
    """A readiness condition does not hold yet (retried until the deadline)."""


def parse_quorum_state(text: str | bytes | None) -> tuple[int, int] | None:
    """(leader epoch, leader id) from a quorum-state file's contents, -1 when it knows none."""
    try:
        view = json.loads(text) if text else None
        return (view["leaderEpoch"], view["leaderId"]) if view else None
    except (json.JSONDecodeError, KeyError, TypeError):
        return None


class KraftViews:
    """Partitions, leaders, ISR and the controller as the cluster really has them; readiness."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def brokers(self) -> list:
        return [n for n in self.nodes.values() if n.layout.is_broker]

    @property
    def controllers(self) -> list:
        return [n for n in self.nodes.values() if n.layout.is_controller]

    @property
    def node_ids(self) -> list[int]:
        return sorted(self.nodes)

    def node(self, node_id: int):
        try:
            return self.nodes[node_id]
        except KeyError:
            raise UsageError(f"cluster {self.name} has no node {node_id} (nodes: {sorted(self.nodes)})") from None

    @property
    def bootstrap_servers(self) -> str:
        """Direct addresses: what the harness itself (admin, observer) uses."""
        return ",".join(n.layout.broker_address for n in self.brokers)

    @property
    def client_bootstrap_servers(self) -> str:
        """What workers use: through the Kafka-protocol proxy when it is on, else through the
        client proxies (Toxiproxy) when clients are proxied."""
        if self.spec.proxy.kafka:
            return ",".join(n.layout.protocol_proxy for n in self.brokers)
        if self.spec.proxy.clients:
            return ",".join(n.layout.client_proxy for n in self.brokers)
        return self.bootstrap_servers

    def admin(self) -> KafkaAdmin:
        if self._admin is None:
            self._admin = KafkaAdmin(self.bootstrap_servers, client=self.harness_client)
        return self._admin

    def partitions(self, topic: str) -> list[PartitionState]:
        """The topic's partitions as the cluster really has them: every running broker is asked
        directly, and per partition the view with the highest leader epoch wins (a majority
        among those): an isolated broker's stale claim to lead is outvoted."""
        return self.partition_states([topic])

    def partition_states(self, topics: list[str]) -> list[PartitionState]:
        """`partitions` of several topics, asking each broker once."""
        views = self._broker_views(topics)
        wanted = set(topics)
        keys = sorted({key for view in views for key in view.partitions if key[0] in wanted})
        missing = wanted - {topic for topic, _ in keys}
        if missing:
            raise NotReady(f"no running broker knows topic {', '.join(sorted(missing))}")
        return [metadata.freshest([v.partitions[key] for v in views if key in v.partitions]) for key in keys]

    def partition(self, topic: str, partition: int) -> PartitionState:
        found = [p for p in self.partitions(topic) if p.partition == partition]
        if not found:
            raise NotReady(f"{topic} has no partition {partition}")
        return found[0]

    def _broker_views(self, topics: list[str] | None) -> list[metadata.BrokerView]:
        views = []
        for node in self.brokers:
            if node.status == ProcessState.RUNNING:
                try:
                    views.append(metadata.fetch(node.layout.broker_address, topics, timeout=METADATA_TIMEOUT_S,
                                                login=self.access.login() if self.access else None))
                except (OSError, ValueError):
                    continue  # unreachable (cut off, or mid-restart): the others answer
        return views

    def leader(self, topic: str, partition: int) -> int | None:
        return self.partition(topic, partition).leader

    def isr(self, topic: str, partition: int) -> tuple[int, ...]:
        return self.partition(topic, partition).isr

    def active_controller(self) -> int | None:
        """The KRaft quorum leader: the leader at the highest epoch any live controller has seen.

        Read from the controllers' quorum-state files, because the Kafka protocol gives clients a
        random broker as "controller" in KRaft mode.
        """
        views = [v for n in self.controllers if n.status != ProcessState.DEAD and (v := n.quorum_view())]
        if not views:
            return None
        epoch = max(e for e, _ in views)
        leaders = {leader for e, leader in views if e == epoch and leader >= 0}
        if len(leaders) != 1:
            return None
        leader = leaders.pop()
        return leader if leader in self.nodes and self.nodes[leader].status != ProcessState.DEAD else None

    def quorum_epoch(self) -> int | None:
        """The highest KRaft leader epoch any live controller has seen."""
        views = [v for n in self.controllers if n.status != ProcessState.DEAD and (v := n.quorum_view())]
        return max((epoch for epoch, _ in views), default=None)

    def wait_ready(self, timeout: float = 120) -> None:
        """Every broker registered, a quorum leader, and an RF=min(3,N) topic fully in sync."""
        admin = self.admin()
        rf = min(3, len(self.brokers))
        expected = {n.id for n in self.brokers}

        def check() -> None:
            self._fail_if_any_died()
            missing = expected - admin.broker_ids()
            if missing:
                raise NotReady(f"brokers {sorted(missing)} not registered")
            if self.active_controller() is None:
                raise NotReady("the metadata quorum has no leader")
            admin.create_topic(READY_TOPIC, partitions=len(expected), replication_factor=rf)
            lagging = [p.partition for p in self.partitions(READY_TOPIC)
                       if not p.fully_replicated or len(p.replicas) != rf]
            if lagging:
                raise NotReady(f"partitions {lagging} of {READY_TOPIC} lack a leader or full ISR")

        self._wait("ready", check, timeout)
        admin.delete_topic(READY_TOPIC)

    def wait_in_sync(self, topics: list[str], timeout: float = 120) -> None:
        """Wait until every partition of `topics` has a leader and its full replica set in ISR."""
        def check() -> None:
            lagging = [f"{p.topic}-{p.partition}" for t in topics for p in self.partitions(t)
                       if not p.fully_replicated]
            if lagging:
                raise NotReady(f"not fully in sync: {', '.join(lagging)}")

        self._wait("in sync", check, timeout)

    def _wait(self, what: str, check, timeout: float) -> None:
        retrying = Retrying(
            stop=stop_after_delay(timeout), wait=wait_exponential(multiplier=0.05, max=1), reraise=True,
            retry=retry_if_exception_type((NotReady, KafkaException, FutureTimeout)),
        )
        try:
            retrying(check)
        except (NotReady, KafkaException, FutureTimeout) as exc:
            raise EnvironmentProblem(f"cluster {self.name} not {what} after {timeout:.0f}s: {exc}") from None


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes in URL-safe base64, not starting with '-'."""
    while (cid := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
        pass
    return cid


def tail(path: Path, size: int = 4096) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - size))
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def java_error(output: str) -> str:
    """The line of a JVM's output that says what went wrong: its exception, else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"\w(Exception|Error): ", line)]
    return (errors[-1] if errors else lines[-1] if lines else "(no output)")[:300]
