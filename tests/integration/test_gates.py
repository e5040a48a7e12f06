"""Reliability gates in a team's own suite, on real clusters: the pytest plugin (fixtures, the
assertion helper's message, JUnit properties), the Python API against the command line, the
example project and the CI recipe, each installed the way a user installs kafka-chaos."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from harness import api
from harness.experiment.catalogue import CATALOGUE
from tests.integration.test_orchestrator import kafka_chaos, nothing_left

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
QUICK = {"steady_s": 2, "faults_s": 6, "recovery_s": 3, "drain_timeout_s": 60, "final_read_timeout_s": 60}


def quick(source: str, **changes) -> dict:
    """A catalogue experiment with short phases."""
    data = yaml.safe_load((CATALOGUE / f"{source}.yaml").read_text())
    return {**data, "phases": QUICK, **changes}


GOOD = quick("leader-kill-acks-all")
BAD = quick("consumer-commits-before-processing-crash", name="commits-first-expected-to-pass", expect="pass")


def test_the_plugin_passes_a_good_gate_and_fails_a_bad_one_readably(pytester, tmp_path):
    for name, data in (("good", GOOD), ("bad", BAD)):
        (pytester.path / f"{name}.yaml").write_text(yaml.safe_dump(data))
    pytester.makepyfile(test_gate="""
        from harness.pytest_plugin import assert_gate, experiments

        @experiments("*.yaml")
        def test_gate(chaos, experiment):
            assert_gate(chaos(experiment))

        def test_the_cluster_is_there(kafka_cluster):
            assert kafka_cluster.bootstrap_servers and len(kafka_cluster.backend.node_ids) == 3
    """)
    junit = tmp_path / "junit.xml"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--junitxml={junit}",
                                           f"--kafka-chaos-out={tmp_path / 'reports'}", timeout=900)
    result.assert_outcomes(passed=2, failed=1)
    failure = result.stdout.str()
    assert "commits-first-expected-to-pass: violation (expected pass" in failure
    assert "lost-processing (fail):" in failure and "acknowledged, and group" in failure
    assert "replay: kafka-chaos replay" in failure and "report: " in failure and "report.html" in failure
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    properties = {p.get("name"): p.get("value") for p in cases["test_gate[bad]"].iter("property")}
    assert properties["kafka-chaos.verdict"] == "violation" and properties["kafka-chaos.seed"].isdigit()
    assert properties["kafka-chaos.backend"] == "local" and properties["kafka-chaos.kafka-version"][0].isdigit()
    assert Path(properties["kafka-chaos.report"]).is_file()
    assert nothing_left(cluster="pytest") == []


@pytest.mark.slow  # two runs, about two minutes: the plugin test above runs gates through the API in CI
def test_the_api_gives_the_same_verdict_as_the_command_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(BAD))
    cli = kafka_chaos("run", str(path), "--seed", "4242", "--out", str(tmp_path / "cli"), "--keep-cluster")
    assert cli.returncode == 1, cli.stdout + cli.stderr
    result = api.run(path, seed=4242, out=tmp_path / "api")  # reuses the kept cluster, then removes it
    assert result.verdict.value == "violation" and not result.passed and result.exit_code == 1
    assert result.seed == 4242 and "lost-processing" in result.counts()
    assert re.search(rf"^VIOLATION +{BAD['name']}", cli.stdout, re.M)
    assert nothing_left() == []


@pytest.fixture(scope="module")
def user_venv(tmp_path_factory) -> Path:
    """A fresh virtual environment with kafka-chaos installed from this checkout, as pip does."""
    venv = tmp_path_factory.mktemp("user") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(ROOT), "pytest"], capture_output=True,
                         text=True, timeout=1200)
    assert pip.returncode == 0, pip.stderr[-2000:]
    return venv


@pytest.mark.slow  # a fresh virtualenv and a run, three to four minutes: the full suite runs it
def test_the_example_project_gates_its_consumer_as_a_user_would(user_venv, tmp_path):
    project = tmp_path / "orders-service"
    shutil.copytree(ROOT / "examples" / "orders-service", project)
    env = {**os.environ, "PATH": f"{user_venv / 'bin'}:{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    installed = subprocess.run(["pip", "install", "-q", "-e", "."], cwd=project, env=env, capture_output=True,
                               text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr
    listed = subprocess.run(["kafka-chaos", "list"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert "leader-kill-acks-all" in listed.stdout, "the catalogue ships inside the package"
    suite = subprocess.run(["pytest", "-q"], cwd=project, env=env, capture_output=True, text=True, timeout=900)
    assert suite.returncode == 0, suite.stdout + suite.stderr
    assert "1 passed" in suite.stdout and list((project / "reports").glob("*-orders-leader-kill/report.html"))
    assert nothing_left(cluster="pytest") == []


@pytest.mark.slow  # two pipelines on the fresh virtualenv: minutes
def test_the_github_workflow_steps_run_a_gate_and_fail_on_a_violation(user_venv, tmp_path):
    workflow = yaml.safe_load((ROOT / "docs" / "ci" / "github-actions.yml").read_text())
    steps = [s["run"] for s in workflow["jobs"]["chaos-gate"]["steps"] if "run" in s]
    gate = [s.replace("sudo -E ", "") for s in steps if "Install" not in s and "apt-get" not in s]
    repo = tmp_path / "repo"
    (repo / "chaos").mkdir(parents=True)
    (repo / "tests" / "chaos").mkdir(parents=True)
    (repo / "chaos" / "good.yaml").write_text(yaml.safe_dump(GOOD))
    (repo / "tests" / "chaos" / "test_gate.py").write_text(
        "from harness.pytest_plugin import assert_gate\n\n"
        "def test_gate(chaos):\n    assert_gate(chaos('chaos/good.yaml'))\n")
    (repo / ".chaos").symlink_to(user_venv)  # the workflow's install step, done by the fixture

    def pipeline() -> subprocess.CompletedProcess:
        script = "set -euo pipefail\n" + "\n".join(gate)
        return subprocess.run(["bash", "-c", script], cwd=repo, capture_output=True, text=True, timeout=1200,
                              env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})

    passed = pipeline()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert (repo / "reports" / "junit.xml").exists() and (repo / "reports" / "pytest.xml").exists()
    assert list((repo / "reports").glob("*/report.html"))
    (repo / "chaos" / "bad.yaml").write_text(yaml.safe_dump(BAD))
    failed = pipeline()
    assert failed.returncode == 1, "a violation fails the pipeline"
    assert nothing_left() == [] and nothing_left(cluster="pytest") == []


def test_the_recipes_in_the_docs_are_the_tested_files():
    text = (ROOT / "docs" / "CI.md").read_text()
    for recipe in ("github-actions.yml", "gitlab-ci.yml"):
        assert (ROOT / "docs" / "ci" / recipe).read_text().strip() in text
