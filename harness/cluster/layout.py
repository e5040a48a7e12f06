"""Where each node lives and how it is configured: pure functions, no processes started.

Node ids: combined mode numbers nodes 1..N, each broker and controller. Dedicated mode numbers
the controllers 1..C and the brokers C+1..C+N.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from harness.cluster.security import BrokerSecurity, broker_properties
from harness.cluster.spec import ClusterSpec, ConfigValue
from harness.net.lab import Lab

NAMESPACE_BROKER_PORT = 9092
NAMESPACE_CONTROLLER_PORT = 9093
NAMESPACE_CLIENT_PORT = 9094  # the listener clients reach through a proxy
NAMESPACE_REPLICATION_PORT = 9095  # the listener followers reach through a proxy
NAMESPACE_PROTOCOL_PORT = 9096  # the listener clients reach through the Kafka-protocol proxy


class Role(StrEnum):
    BROKER = "broker"
    CONTROLLER = "controller"


@dataclass(frozen=True)
class NodeLayout:
    id: int
    roles: tuple[Role, ...]
    host: str
    broker_port: int
    controller_port: int
    namespace: str | None  # None in loopback mode
    client_port: int = 0
    replication_port: int = 0
    client_proxy: str = ""  # host:port clients are told to use, when clients are proxied
    replication_proxy: str = ""  # host:port followers are told to use, when replication is proxied
    protocol_port: int = 0
    protocol_proxy: str = ""  # host:port clients are told to use, when the Kafka-protocol proxy is on

    @property
    def is_broker(self) -> bool:
        return Role.BROKER in self.roles

    @property
    def is_controller(self) -> bool:
        return Role.CONTROLLER in self.roles

    @property
    def broker_address(self) -> str:
        return f"{self.host}:{self.broker_port}"

    @property
    def controller_address(self) -> str:
        return f"{self.host}:{self.controller_port}"


def plan(spec: ClusterSpec, lab: Lab | None) -> list[NodeLayout]:
    """The nodes of `spec`: in `lab` namespaces when given, else on loopback ports."""
    both = (Role.BROKER, Role.CONTROLLER)
    if spec.controllers:
        roles = [(Role.CONTROLLER,)] * spec.controllers + [(Role.BROKER,)] * spec.nodes
    else:
        roles = [both] * spec.nodes
    return [_place(node_id, node_roles, spec, lab) for node_id, node_roles in enumerate(roles, start=1)]


def _place(node_id: int, roles: tuple[Role, ...], spec: ClusterSpec, lab: Lab | None) -> NodeLayout:
    # Proxies live in the root namespace: client proxies on loopback, replication proxies where
    # the nodes can reach them (the bridge address, or loopback without namespaces).
    proxies = {"client_proxy": f"127.0.0.1:{toxiproxy_port(spec) + 100 + node_id}",
               "replication_proxy": f"{lab.gateway if lab else '127.0.0.1'}:{toxiproxy_port(spec) + 200 + node_id}",
               "protocol_proxy": f"127.0.0.1:{protocol_proxy_port(spec) + node_id}"}
    if lab is not None:
        return NodeLayout(node_id, roles, lab.address(node_id), NAMESPACE_BROKER_PORT, NAMESPACE_CONTROLLER_PORT,
                          lab.namespace(node_id), NAMESPACE_CLIENT_PORT, NAMESPACE_REPLICATION_PORT,
                          protocol_port=NAMESPACE_PROTOCOL_PORT, **proxies)
    return NodeLayout(node_id, roles, "127.0.0.1", spec.port_base + node_id, spec.port_base + 100 + node_id, None,
                      spec.port_base + 200 + node_id, spec.port_base + 300 + node_id,
                      protocol_port=spec.port_base + 700 + node_id, **proxies)


def toxiproxy_port(spec: ClusterSpec) -> int:
    """The Toxiproxy API port; its proxies listen on the hundreds above it."""
    return spec.port_base + 400


def protocol_proxy_port(spec: ClusterSpec) -> int:
    """The Kafka-protocol proxy's control port; it listens for node N's clients N above it."""
    return spec.port_base + 800


def lab_defaults(brokers: int) -> dict[str, ConfigValue]:
    """Broker settings for a small lab: durable internal topics, threads sized for 2 cores."""
    rf = min(3, brokers)
    min_isr = min(2, rf)
    return {
        # Durability of the internal topics (offsets, transactions): RF 3, min ISR 2. The
        # offsets topic takes the broker-wide min.insync.replicas, so that default is 2 too;
        # experiments set their own topics' min ISR explicitly.
        "default.replication.factor": rf,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": rf,
        "offsets.topic.num.partitions": 12,
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": min_isr,
        "transaction.state.log.num.partitions": 12,
        "unclean.leader.election.enable": False,
        "auto.create.topics.enable": False,
        "group.initial.rebalance.delay.ms": 0,
        # Three JVMs and the workload share two cores: keep every pool small.
        "num.network.threads": 2,
        "num.io.threads": 2,
        "num.replica.fetchers": 1,
        "background.threads": 2,
        "num.recovery.threads.per.data.dir": 1,
        "log.cleaner.threads": 1,
        "log.cleaner.dedupe.buffer.size": 8 * 1024 * 1024,
    }


def server_properties(node: NodeLayout, nodes: list[NodeLayout], spec: ClusterSpec,
                      data_dir: Path, security: BrokerSecurity | None = None) -> dict[str, str]:
    """server.properties for `node`: listeners, quorum, lab defaults, security (a secured spec needs
    `security`: where the node finds its keystore), then the spec's overrides."""
    if spec.security.secured and security is None:
        raise ValueError("a secured cluster's nodes need their security material")
    voters = ",".join(f"{n.id}@{n.controller_address}" for n in nodes if n.is_controller)
    main = main_listener(spec)
    listeners, advertised = [], []
    if node.is_broker:
        listeners.append(f"{main}://{node.broker_address}")
        advertised.append(f"{main}://{node.broker_address}")
        if spec.proxy.clients:
            listeners.append(f"CLIENT://{node.host}:{node.client_port}")
            advertised.append(f"CLIENT://{node.client_proxy}")
        if spec.proxy.replication:
            listeners.append(f"REPLICATION://{node.host}:{node.replication_port}")
            advertised.append(f"REPLICATION://{node.replication_proxy}")
        if spec.proxy.kafka:
            listeners.append(f"PROTOCOL://{node.host}:{node.protocol_port}")
            advertised.append(f"PROTOCOL://{node.protocol_proxy}")
    if node.is_controller:
        listeners.append(f"CONTROLLER://{node.controller_address}")
    protocol = spec.security.protocol.kafka
    props: dict[str, ConfigValue] = {
        "node.id": node.id,
        "process.roles": ",".join(node.roles),
        "listeners": ",".join(listeners),
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": (f"{main}:{protocol},CONTROLLER:{'SSL' if security else 'PLAINTEXT'},"
                                           f"CLIENT:{protocol},REPLICATION:{protocol}"
                                           + (",PROTOCOL:PLAINTEXT" if spec.proxy.kafka else "")),
        "controller.quorum.voters": voters,
        "log.dirs": str(data_dir),
    }
    if node.is_broker:
        props["advertised.listeners"] = ",".join(advertised)
        props["inter.broker.listener.name"] = "REPLICATION" if spec.proxy.replication else main
    props |= lab_defaults(spec.brokers)
    if security:
        props |= broker_properties(security, [main, "CLIENT", "REPLICATION"])
    props |= spec.broker_config
    return {key: _kafka_value(value) for key, value in props.items()}


def main_listener(spec: ClusterSpec) -> str:
    """The listener clients and the harness reach directly (a secured one is not called PLAINTEXT)."""
    return "BROKER" if spec.security.secured else "PLAINTEXT"


def certificate_hosts(nodes: list[NodeLayout], spec: ClusterSpec, lab: Lab | None) -> list[str]:
    """Every address a client or a broker may dial a node at: the nodes, and the proxies."""
    return ["127.0.0.1", *(n.host for n in nodes), *([lab.gateway] if lab else [])]


def _kafka_value(value: ConfigValue) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def render_properties(props: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in props.items())


LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""

LOG4J = """log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
"""


def logging_config(backend: str) -> tuple[str, str, str]:
    """(file name, contents, JVM property) for the logging backend of a distribution."""
    if backend == "log4j2":
        return "log4j2.properties", LOG4J2, "-Dlog4j2.configurationFile="
    return "log4j.properties", LOG4J, "-Dlog4j.configuration=file:"
