"""Node placement and server.properties generation (no processes)."""

from pathlib import Path

from harness.cluster.layout import Role, plan, server_properties
from harness.cluster.spec import ClusterSpec
from harness.net.lab import Lab


def props_of(spec: ClusterSpec, node_id: int, lab: Lab | None = None) -> dict[str, str]:
    nodes = plan(spec, lab)
    node = next(n for n in nodes if n.id == node_id)
    return server_properties(node, nodes, spec, Path("/data"))


def test_combined_nodes_are_brokers_and_voters():
    spec = ClusterSpec(nodes=3)
    nodes = plan(spec, Lab("lab", 5))
    assert [n.id for n in nodes] == [1, 2, 3]
    assert all(n.roles == (Role.BROKER, Role.CONTROLLER) for n in nodes)
    assert [n.broker_address for n in nodes] == ["198.18.5.11:9092", "198.18.5.12:9092", "198.18.5.13:9092"]
    assert [n.namespace for n in nodes] == ["kc-lab-n1", "kc-lab-n2", "kc-lab-n3"]
    props = props_of(spec, 2, Lab("lab", 5))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@198.18.5.11:9093,2@198.18.5.12:9093,3@198.18.5.13:9093"
    assert props["listeners"] == "PLAINTEXT://198.18.5.12:9092,CONTROLLER://198.18.5.12:9093"
    assert props["advertised.listeners"] == "PLAINTEXT://198.18.5.12:9092"
    assert props["inter.broker.listener.name"] == "PLAINTEXT"


def test_dedicated_controllers_come_first_and_brokers_do_not_vote():
    spec = ClusterSpec(nodes=2, controllers=3)
    nodes = plan(spec, None)
    assert [(n.id, n.roles) for n in nodes] == [
        (1, (Role.CONTROLLER,)), (2, (Role.CONTROLLER,)), (3, (Role.CONTROLLER,)),
        (4, (Role.BROKER,)), (5, (Role.BROKER,))]
    controller, broker = props_of(spec, 1), props_of(spec, 4)
    assert controller["process.roles"] == "controller"
    assert "advertised.listeners" not in controller
    assert controller["listeners"] == "CONTROLLER://127.0.0.1:19101"
    assert broker["process.roles"] == "broker"
    assert broker["listeners"] == "PLAINTEXT://127.0.0.1:19004"
    assert broker["controller.quorum.voters"] == "1@127.0.0.1:19101,2@127.0.0.1:19102,3@127.0.0.1:19103"


def test_loopback_ports_are_distinct_per_node():
    nodes = plan(ClusterSpec(nodes=5, port_base=30000), None)
    ports = [p for n in nodes for p in (n.broker_port, n.controller_port)]
    assert len(set(ports)) == len(ports)
    assert all(n.host == "127.0.0.1" and n.namespace is None for n in nodes)


def test_internal_topics_are_durable_on_three_nodes():
    props = props_of(ClusterSpec(nodes=3), 1)
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["min.insync.replicas"] == "2"
    assert props["unclean.leader.election.enable"] == "false"


def test_replication_is_capped_by_the_number_of_brokers():
    props = props_of(ClusterSpec(nodes=1), 1)
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["min.insync.replicas"] == "1"


def test_overrides_win_and_are_rendered_as_kafka_strings():
    spec = ClusterSpec(broker_config={"unclean.leader.election.enable": True, "num.io.threads": 4,
                                      "log.retention.ms": 1000})
    props = props_of(spec, 1)
    assert props["unclean.leader.election.enable"] == "true"
    assert props["num.io.threads"] == "4"
    assert props["log.retention.ms"] == "1000"


def test_proxied_clients_and_replication_get_their_own_listeners():
    from harness.cluster.spec import ProxySpec

    spec = ClusterSpec(proxy=ProxySpec(clients=True, replication=True), port_base=19000)
    props = props_of(spec, 2, Lab("lab", 5))
    assert props["listeners"] == ("PLAINTEXT://198.18.5.12:9092,CLIENT://198.18.5.12:9094,"
                                  "REPLICATION://198.18.5.12:9095,CONTROLLER://198.18.5.12:9093")
    assert props["advertised.listeners"] == ("PLAINTEXT://198.18.5.12:9092,CLIENT://127.0.0.1:19502,"
                                             "REPLICATION://198.18.5.1:19602")
    assert props["inter.broker.listener.name"] == "REPLICATION"
