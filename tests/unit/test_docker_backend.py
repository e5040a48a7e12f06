"""The docker backend's pure parts: apt sources, a compose container's environment read as a
node, the files put into containers, the image's build context, and what validation offers and
refuses on backend docker. No Docker engine needed."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import yaml

from harness.cluster import backends
from harness.cluster.backend import Capability
from harness.cluster.backends import BackendName
from harness.cluster.containers import debian
from harness.cluster.containers.cluster import config_archive
from harness.cluster.containers.compose import describe, listeners, reachable
from harness.cluster.containers.image import context
from harness.cluster.containers.spec import DockerSpec
from harness.cluster.layout import Role
from harness.errors import UsageError
from harness.experiment.loader import load_experiment, parse
from harness.experiment.model import DockerClusterConfig

COMPOSE = Path(__file__).parents[2] / "compose"


def test_the_first_debian_release_of_apt_sources_is_the_mirror(tmp_path):
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    (apt / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n")
    (apt / "sources.list.d" / "other.list").write_text("deb [arch=amd64 signed-by=/x.gpg] https://example/apt stable main\n")
    assert debian.mirror(apt, env={}) == debian.Mirror("http://deb.debian.org/debian", "bookworm")


def test_one_line_sources_skip_updates_security_and_non_main(tmp_path):
    sources = debian.one_line_sources("deb http://m/debian bookworm-updates main\n"
                                      "deb-src http://m/debian bookworm main\n"
                                      "deb [trusted=yes] http://m/debian/ trixie contrib main # tail\n")
    assert debian.choose(sources) == debian.Mirror("http://m/debian", "trixie")
    assert debian.choose(debian.one_line_sources("deb http://m/debian bookworm contrib\n")) is None


def test_a_mirror_can_be_named_and_none_found_is_one_line(tmp_path):
    assert debian.mirror(tmp_path, env={debian.MIRROR_ENV: "http://127.0.0.1:9/debian sid"}) == \
        debian.Mirror("http://127.0.0.1:9/debian", "sid")
    with pytest.raises(Exception, match="no Debian mirror"):
        debian.mirror(tmp_path, env={})
    assert debian.debootstrap_command(debian.Mirror("http://m/debian", "bookworm"), Path("/t")) == [
        "debootstrap", "--variant=minbase", "--include=openjdk-17-jre-headless", "--components=main", "bookworm", "/t",
        "http://m/debian"]


def inspected(env: dict[str, str], running: bool = True, name: str = "kc-kafka-1") -> dict:
    return {"Name": f"/{name}", "Config": {"Env": [f"{k}={v}" for k, v in env.items()], "Image": "apache/kafka:4.0.1"},
            "State": {"Running": running},
            "NetworkSettings": {"Networks": {"kc_default": {"IPAddress": "198.19.3.2", "Gateway": "198.19.3.1"}}}}


def test_a_compose_container_is_read_as_apache_kafka_reads_its_environment():
    found = describe(inspected({"KAFKA_NODE_ID": "2", "KAFKA_PROCESS_ROLES": "broker,controller",
                                "KAFKA_ADVERTISED_LISTENERS": "INTERNAL://kafka-2:9094,HOST://localhost:19093",
                                "KAFKA_LOG_DIRS": "/var/lib/kafka/data", "CLUSTER_ID": "abc"}))
    assert (found.node, found.roles, found.host, found.port) == (2, (Role.BROKER, Role.CONTROLLER), "127.0.0.1", 19093)
    assert (found.ip, found.gateway, found.log_dir, found.metadata_dir, found.cluster_id) == \
        ("198.19.3.2", "198.19.3.1", "/var/lib/kafka/data", "/var/lib/kafka/data", "abc")
    controller = describe(inspected({"KAFKA_NODE_ID": "1", "KAFKA_PROCESS_ROLES": "controller",
                                     "KAFKA_LISTENERS": "CONTROLLER://:9193"}))
    assert (controller.roles, controller.host, controller.port, controller.log_dir) == \
        ((Role.CONTROLLER,), "198.19.3.2", 9193, "/tmp/kraft-combined-logs")
    assert describe(inspected({"SOMETHING": "else"})) is None, "not a Kafka container"


def test_a_broker_this_machine_cannot_reach_is_refused_in_one_line():
    with pytest.raises(UsageError, match="advertises no listener this machine can reach"):
        describe(inspected({"KAFKA_NODE_ID": "4", "KAFKA_PROCESS_ROLES": "broker",
                            "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://broker-4:9092"}))
    assert reachable("PLAINTEXT://198.19.3.2:9092", "198.19.3.2") == ("198.19.3.2", 9092)
    assert listeners("A://:1, B://[::1]:2,junk") == [("A", "", 1), ("B", "::1", 2)]


def test_attach_names_a_compose_project_or_a_label():
    assert DockerSpec(attach="kc_test-1").attach_filter == {"label": "com.docker.compose.project=kc_test-1"}
    assert DockerSpec(attach="team=payments").attach_filter == {"label": "team=payments"}
    for bad in ("Upper", "a b", "x;rm -rf /", "=v"):
        with pytest.raises(ValueError):
            DockerSpec(attach=bad)


def test_files_go_into_a_container_as_one_tar_with_their_modes():
    data = config_archive("etc/kafka-chaos", {"server.properties": (b"node.id=1\n", 0o644), "start": (b"#!/bin/sh", 0o755)})
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert members["etc/kafka-chaos"].isdir()
        assert members["etc/kafka-chaos/start"].mode == 0o755
        assert tar.extractfile("etc/kafka-chaos/server.properties").read() == b"node.id=1\n"


def test_the_image_context_has_apache_kafkas_layout(tmp_path):
    (tmp_path / "kafka_2.13-4.4.0.jar").write_bytes(b"jar")
    (tmp_path / "COMPLETE").write_text("marker")
    with tarfile.open(fileobj=io.BytesIO(context("kafka-chaos/base:bookworm-java17", "4.4.0", tmp_path))) as tar:
        names = set(tar.getnames())
        dockerfile = tar.extractfile("Dockerfile").read().decode()
        run_class = tar.extractfile("bin/kafka-run-class.sh").read().decode()
        assert tar.getmember("docker/run").mode == 0o755
    assert {"libs/kafka_2.13-4.4.0.jar", "bin/kafka-server-start.sh", "bin/kafka-storage.sh",
            "docker/log4j2.properties"} <= names and "libs/COMPLETE" not in names
    assert dockerfile.startswith("#") and "FROM kafka-chaos/base:bookworm-java17" in dockerfile
    assert "-Dlog4j2.configurationFile=/etc/kafka/docker/log4j2.properties" in run_class
    with tarfile.open(fileobj=io.BytesIO(context("b", "3.9.1", tmp_path))) as tar:
        assert "docker/log4j.properties" in tar.getnames()


def test_docker_offers_no_proxies_or_disks_on_a_cluster_it_takes_over(monkeypatch):
    monkeypatch.setattr(backends, "local_control", lambda: True)
    nothing_inside = {Capability.POWER, Capability.CLOCKS, Capability.PROTOCOL, Capability.SECURITY}
    assert backends.offers(BackendName.DOCKER) == frozenset(Capability) - nothing_inside
    taken_over = DockerClusterConfig(backend="docker", docker=DockerSpec(attach="kc"))
    assert backends.offers(BackendName.DOCKER, config=taken_over) == {
        Capability.PROCESSES, Capability.TOPOLOGY, Capability.QUORUM, Capability.NETWORK, Capability.CLIENT_NETWORK}
    monkeypatch.setattr(backends, "local_control", lambda: False)
    assert backends.offers(BackendName.DOCKER) == {Capability.PROCESSES, Capability.TOPOLOGY, Capability.QUORUM,
                                                   Capability.PROXIES, Capability.CLIENT_PROXIES}


FULL_DISK = """
name: full
topics: [{name: t}]
workload: {producers: [{name: p, topics: [t]}]}
faults:
  kind: timeline
  steps:
    - {at: 1, duration: 2, fault: {fault: full-disk, target: 1}}
"""


def test_a_fault_the_cluster_taken_over_cannot_do_is_refused_at_its_line(monkeypatch):
    monkeypatch.setattr(backends, "local_control", lambda: True)
    assert parse(FULL_DISK, "x.yaml", runnable=True, backend=BackendName.DOCKER).cluster.backend == "docker"
    with pytest.raises(UsageError, match=r"x.yaml:8: faults.steps\[0\].fault: full-disk needs disks; backend docker "
                                         r"\(cluster kc, taken over\) offers client-network, network, processes, quorum, topology here"):
        parse(FULL_DISK, "x.yaml", runnable=True, attach="kc")
    with pytest.raises(UsageError, match="--attach 'Bad Name'"):
        parse(FULL_DISK, "x.yaml", attach="Bad Name")
    with pytest.raises(UsageError, match="needs backend docker, not local"):
        parse(FULL_DISK, "x.yaml", backend=BackendName.LOCAL, attach="kc")


def test_an_experiment_names_its_backend_and_docker_settings(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text(FULL_DISK.replace("name: full", "name: full\ncluster: {backend: docker, docker: {image: "
                                                    "kafka-chaos/kafka:4.4.0}}"))
    experiment = load_experiment(path)
    assert experiment.cluster.backend == BackendName.DOCKER
    assert experiment.cluster.docker.image == "kafka-chaos/kafka:4.4.0"


@pytest.mark.parametrize("name, brokers, controllers", [("combined.yml", 3, 0), ("dedicated.yml", 3, 3)])
def test_the_compose_files_describe_the_clusters_the_readme_promises(name, brokers, controllers):
    services = yaml.safe_load((COMPOSE / name).read_text())["services"]
    nodes = [describe(inspected({k: str(v) for k, v in s["environment"].items()}, name=n)) for n, s in services.items()]
    assert sum(Role.BROKER in f.roles for f in nodes) == brokers
    assert sum(f.roles == (Role.CONTROLLER,) for f in nodes) == controllers
    assert sorted(f.node for f in nodes) == list(range(1, brokers + controllers + 1))
    assert all(f.host == "127.0.0.1" for f in nodes if Role.BROKER in f.roles), "clients on the host reach brokers"
    assert all(s["image"].startswith("${KAFKA_IMAGE:-apache/kafka:") and s["volumes"] and s["healthcheck"]
               for s in services.values())


CATALOGUE = Path(__file__).resolve().parents[2] / "harness" / "catalogue"


@pytest.mark.parametrize("name, missing", [("power-loss-one-node", "power"), ("clock-skew-retention", "clocks"),
                                           ("drop-produce-responses-duplicates", "protocol")])
def test_faults_that_need_what_containers_lack_are_refused_on_docker(monkeypatch, name, missing):
    monkeypatch.setattr(backends, "local_control", lambda: True)
    with pytest.raises(UsageError, match=rf"needs {missing}; backend docker offers "):
        load_experiment(CATALOGUE / f"{name}.yaml", runnable=True, backend=BackendName.DOCKER)


def test_a_secured_cluster_or_a_cluster_of_others_does_not_move_to_docker():
    with pytest.raises(UsageError, match="--backend docker: backend docker runs plaintext clusters only, not sasl_ssl"):
        load_experiment(CATALOGUE / "sasl-ssl-leader-kill.yaml", backend=BackendName.DOCKER)
    ssh = yaml.safe_load(FULL_DISK) | {"cluster": {"backend": "external", "bootstrap": "198.18.90.11:9092"}}
    with pytest.raises(UsageError, match="the experiment's cluster is backend external; only local and docker"):
        parse(yaml.safe_dump(ssh), backend=BackendName.DOCKER)
    back = parse(FULL_DISK.replace("name: full", "name: full\ncluster: {backend: docker}"), backend=BackendName.LOCAL)
    assert back.cluster.backend == BackendName.LOCAL and not hasattr(back.cluster, "docker")
