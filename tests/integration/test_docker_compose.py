"""A cluster from compose/ started with compose, taken over (`Session(attach=...)`, what `kafka-chaos
run --attach` uses, with a cluster name of this module's own), an experiment run on it, and the
compose project left as it was found."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.api import Session
from harness.cluster.containers import state as store
from harness.cluster.containers.engine import client
from harness.cluster.containers.image import build
from harness.net import iptables
from tests.integration.test_orchestrator import experiment_file, kafka_chaos, records
from tests.support import eventually

pytestmark = [pytest.mark.cluster, pytest.mark.docker]

COMPOSE = Path(__file__).parents[2] / "compose"
PROJECT = "dkcompose"
HOME = dict(name="dkcomp", subnet=127, port_base=41400)  # the name the taken-over cluster is recorded under


def compose_command() -> list[str]:
    """`docker compose` (the plugin) where it is installed, else Debian's docker-compose."""
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True)
    if plugin.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("neither `docker compose` nor docker-compose is installed (run.sh installs docker-compose)")


def compose(*args: str) -> subprocess.CompletedProcess:
    # No image can be pulled here: the compose file runs the image kafka-chaos builds.
    env = {**os.environ, "KAFKA_IMAGE": build("4.4.0")}
    return subprocess.run([*compose_command(), "-f", str(COMPOSE / "combined.yml"), "-p", PROJECT, *args],
                          capture_output=True, text=True, env=env, timeout=300)


def project() -> dict:
    """The project's containers (name -> id, status, started at), networks and volumes."""
    engine, wanted = client(), {"label": f"com.docker.compose.project={PROJECT}"}
    containers = {c.name: (c.id, c.status, c.attrs["State"]["StartedAt"])
                  for c in engine.containers.list(all=True, filters=wanted)}
    return {"containers": containers, "networks": sorted(n.name for n in engine.networks.list(filters=wanted)),
            "volumes": sorted(v.name for v in engine.volumes.list(filters=wanted))}


@pytest.fixture
def compose_project():
    up = compose("up", "-d")
    assert up.returncode == 0, up.stderr
    try:
        def healthy() -> bool:
            states = [c.attrs["State"].get("Health", {}).get("Status") for c in
                      client().containers.list(filters={"label": f"com.docker.compose.project={PROJECT}"})]
            return states == ["healthy"] * 3

        eventually(healthy, timeout=180)
        yield
    finally:
        down = compose("down", "-v")
        assert down.returncode == 0, down.stderr


def test_an_experiment_runs_on_a_compose_cluster_and_leaves_it_as_found(compose_project, tmp_path):
    found = project()
    assert len(found["containers"]) == 3 and found["volumes"], found
    experiment = experiment_file(tmp_path, "leader-kill-acks-all", name="on-compose",
                                 phases={"steady_s": 3, "faults_s": 12, "recovery_s": 5})
    out = tmp_path / "runs"
    with Session(out=out, attach=PROJECT, home=HOME) as session:
        result = session.run(experiment)
    assert result.outcome == "pass", result.explain()
    [record] = records(out).values()
    assert record["outcome"] == "pass" and record["backend"] == "docker"
    after = project()
    assert after["networks"] == found["networks"] and after["volumes"] == found["volumes"]
    assert {n: c[:2] for n, c in after["containers"].items()} == {n: (c[0], "running")
                                                                  for n, c in found["containers"].items()}, \
        "the same containers, all running (the killed one started again)"
    assert any(after["containers"][n][2] != found["containers"][n][2] for n in found["containers"]), \
        "the kill did hit a container of the project"
    assert store.read_state("dkcomp") is None, "the harness forgot the cluster it took over"
    for container in client().containers.list(filters={"label": f"com.docker.compose.project={PROJECT}"}):
        assert iptables.tagged(iptables.Netns(container.name, container.attrs["State"]["Pid"])) == []


def test_a_fault_the_compose_cluster_cannot_take_is_refused_before_anything_starts(tmp_path):
    experiment = experiment_file(tmp_path, "full-disk-acks-all", name="full-on-compose")
    result = kafka_chaos("validate", str(experiment))
    assert result.returncode == 0
    refused = kafka_chaos("run", "--attach", PROJECT, str(experiment), "--out", str(tmp_path / "runs"))
    assert refused.returncode == 2 and "full-disk needs disks; backend docker (cluster dkcompose, taken over)" \
        in refused.stderr, refused.stderr
    assert not (tmp_path / "runs").exists()
