"""`kafka-chaos` on backend docker end to end: the catalogue's key verdicts on containers, a
SIGKILLed harness cleaned up by `cluster down` without touching a container we did not make,
signals, and environment problems that end in one line and exit 3.

Runs go through the Python API (`Session(backend=docker, home=...)`, what `run --backend docker`
uses) so their cluster has a name, subnet and ports of this module's own, not the run cluster's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness.api import Session
from harness.cluster.backends import BackendName
from harness.cluster.containers.engine import client
from harness.events import read_events
from harness.experiment.catalogue import CATALOGUE
from tests.integration.docker_support import docker_leftovers
from tests.integration.test_orchestrator import cluster_ids, experiment_file, kafka_chaos, nothing_left, records
from tests.support import eventually

pytestmark = [pytest.mark.cluster, pytest.mark.docker]

HOME = dict(name="dkrun", subnet=122, port_base=40200)  # the runs' cluster

# The reset-peer experiment first: it asks for client proxies, so the one cluster serves all three.
VERDICTS = ["no-idempotence-retries-duplicates", "leader-kill-acks-all", "acks1-unclean-leader-isolation"]


def expected(name: str) -> str:
    expect = yaml.safe_load((CATALOGUE / f"{name}.yaml").read_text()).get("expect")
    return "caught-as-expected" if expect == "violation" else "pass"


def test_the_key_verdicts_on_containers_are_those_on_the_local_backend(tmp_path):
    out = tmp_path / "runs"
    started = time.monotonic()
    with Session(out=out, backend=BackendName.DOCKER, home=HOME) as session:
        results = [session.run(CATALOGUE / f"{name}.yaml") for name in VERDICTS]
    print(f"docker verdicts: {time.monotonic() - started:.0f} s")
    got = {name: r["outcome"] for name, r in records(out).items()}
    assert got == {name: expected(name) for name in VERDICTS}, [r.explain() for r in results]
    assert {r["backend"] for r in records(out).values()} == {"docker"}
    runs = {name: Path(r["run_dir"]) for name, r in records(out).items()}
    assert len({cid for d in runs.values() for cid in cluster_ids(d)}) == 1, "one cluster served every run"
    # The run directory has what a local run has: the brokers' logs, the observer's view, the disks.
    kill = runs["leader-kill-acks-all"]
    assert all("Kafka Server started" in (kill / "cluster" / f"node-{i}.log").read_text() or i
               for i in (1, 2, 3))
    assert any(e["source"] == "observer" and e["kind"] == "leader-change" for e in read_events(kill))
    loss = runs["acks1-unclean-leader-isolation"]
    lost = json.loads((loss / "verdict.json").read_text())["anomalies"]["lost-write"]
    assert lost and (loss / "disk" / "scanned.json").exists()
    assert docker_leftovers("dkrun") == [] and nothing_left("dkrun") == []


# A harness run in a process of its own, to be killed: `run --backend docker` on this module's cluster.
RUN = """
import sys
from harness.api import Session
from harness.cluster.backends import BackendName
with Session(out=sys.argv[2], backend=BackendName.DOCKER, home=dict(name="dkrun", subnet=122, port_base=40200)) as s:
    s.run(sys.argv[1])
"""


def test_cluster_down_after_a_sigkilled_harness_removes_only_what_carries_our_label(tmp_path):
    engine = client()
    bystander = engine.containers.run("kafka-chaos/kafka:4.4.0", ["sleep", "600"], name="dk-bystander",
                                      detach=True, labels={"dk.test": "bystander"})
    try:
        fast = experiment_file(tmp_path, "leader-kill-acks-all", name="killed",
                               phases={"steady_s": 2, "faults_s": 60, "recovery_s": 2})
        out = tmp_path / "runs"
        proc = subprocess.Popen([sys.executable, "-c", RUN, str(fast), str(out)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

        def fault_in_effect() -> bool:
            runs = list(out.glob("*-killed"))
            return bool(runs) and any(e["kind"] == "inject" for e in read_events(runs[0]))

        eventually(fault_in_effect, timeout=240)
        proc.kill()
        proc.communicate(timeout=30)
        assert docker_leftovers("dkrun"), "the killed harness left its containers behind"
        down = kafka_chaos("cluster", "down", "--name", "dkrun")
        assert down.returncode == 0, down.stderr
        assert docker_leftovers("dkrun") == []
        eventually(lambda: nothing_left("dkrun") == [], timeout=30)  # its workers and observer end on their own
        bystander.reload()
        assert bystander.status == "running", "a container without our label is never touched"
    finally:
        bystander.remove(force=True)


def test_sigterm_while_a_docker_cluster_starts_removes_everything(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "harness", "cluster", "up", "--backend", "docker", "--name",
                             "dkterm", "--subnet", "123", "--dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    eventually(lambda: len(client().containers.list(filters={"label": "kafka-chaos.cluster=dkterm",
                                                             "status": "running"})) == 6, timeout=120)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM and b"Traceback" not in stderr
    assert docker_leftovers("dkterm") == []


def _env(**changes: str) -> dict[str, str]:
    return {**os.environ, **changes}


@pytest.mark.parametrize("environment, message", [
    ({"DOCKER_HOST": "unix:///tmp/dk-no-engine.sock", "PATH": "/nonexistent"}, "Docker is not installed"),
    ({"DOCKER_HOST": "unix:///tmp/dk-no-engine.sock"}, "the Docker daemon is not running"),
    ({"DOCKER_HOST": "tcp://127.0.0.1:9"}, "the Docker daemon at tcp://127.0.0.1:9 is not reachable"),
])
def test_no_docker_engine_is_one_line_and_exit_3(tmp_path, environment, message):
    experiment = experiment_file(tmp_path, "leader-kill-acks-all", name="no-engine")
    result = subprocess.run([sys.executable, "-m", "harness", "run", "--backend", "docker", str(experiment),
                             "--out", str(tmp_path / "runs")], capture_output=True, text=True, timeout=120,
                            env=_env(**environment))
    assert result.returncode == 3, result.stdout + result.stderr
    assert message in result.stdout and "Traceback" not in result.stderr
    up = subprocess.run([sys.executable, "-m", "harness", "cluster", "up", "--backend", "docker", "--name", "dknone"],
                        capture_output=True, text=True, timeout=120, env=_env(**environment))
    assert up.returncode == 3 and up.stderr.strip().count("\n") == 0 and message in up.stderr, up.stderr
    assert docker_leftovers("run") == [] and docker_leftovers("dknone") == []


def test_an_image_build_that_fails_is_one_line_exit_3_and_leaves_nothing(tmp_path):
    from harness import paths

    engine = client()
    before = {image.id for image in engine.images.list(all=True)}
    result = subprocess.run([sys.executable, "-m", "harness", "image", "build", "--kafka-version", "3.9.1"],
                            capture_output=True, text=True, timeout=300,
                            env=_env(KAFKA_CHAOS_APT_MIRROR="http://127.0.0.1:9/debian dkfail"))
    assert result.returncode == 3, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("kafka-chaos: debootstrap from http://127.0.0.1:9/debian dkfail failed"), result.stderr
    assert "Traceback" not in result.stderr
    assert {image.id for image in engine.images.list(all=True)} == before, "no image, not even a partial one"
    assert not list((paths.cache_dir() / "image").glob("rootfs-*")), "no root file system left"
