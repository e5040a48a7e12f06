"""Experiment files: the catalogue validates, bad files get one clear line, the loader never
lets a traceback out, and outcomes map to exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import UsageError
from harness.experiment.catalogue import CATALOGUE, catalogue
from harness.cluster.spec import DEFAULT_DISK_MB
from harness.checker.model import Verdict
from harness.experiment.loader import parse
from harness.orchestrator.fold import decide
from harness.orchestrator.plan import RunPlan
from harness.rundir import RunDir
from harness.rundir.record import Outcome, RunRecord, SteadyCheck
from harness.report import junit

VALID = """\
name: sample
topics:
  - name: orders
workload:
  producers:
    - name: p1
      topics: [orders]
      rate: 100
  consumers:
    - name: c1
      topics: [orders]
      group: g
faults:
  kind: timeline
  steps:
    - at: 1
      fault: {fault: kill-worker, worker: c1}
"""


def kafka_chaos(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=120)


def test_every_catalogue_file_validates_and_says_what_it_covers():
    found = catalogue()
    assert len(found) >= 15
    for path, experiment in found:
        assert experiment.scenarios, f"{path.name} names no seed scenario"
        assert experiment.description.strip(), f"{path.name} says nothing about itself"
        assert path.stem == experiment.name


def test_the_catalogue_has_known_good_and_known_bad_experiments():
    expects = {e.expect.value for _, e in catalogue()}
    assert expects == {"pass", "violation"}


@pytest.mark.parametrize("change, where", [
    (lambda d: d["workload"]["producers"][0].update(rat=1), "sample.yaml:9: workload.producers[0].rat: unknown field"),
    (lambda d: d["workload"]["producers"][0].update(rate="fast"), "sample.yaml:9: workload.producers[0].rate:"),
    (lambda d: d["topics"][0].update(replication_factor=4), "sample.yaml:4: topics[0].replication_factor: "
                                                            "replication factor 4 > 3 brokers"),
    (lambda d: d["faults"]["steps"][0]["fault"].update(worker="nobody"),
     "sample.yaml:18: faults.steps[0].fault.worker: no worker named 'nobody'"),
    (lambda d: d.pop("topics"), "sample.yaml:1: topics: Field required"),
    (lambda d: d["workload"]["producers"][0].update(topics=["missing"]),
     "sample.yaml:7: workload.producers[0]: topics ['missing'] are not declared"),
])
def test_bad_fields_are_named_with_file_and_line(change, where):
    data = yaml.safe_load(VALID)
    change(data)
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
    with pytest.raises(UsageError) as caught:
        parse(text, "sample.yaml")
    message = str(caught.value)
    file_line, _, rest = message.partition(": ")
    assert "\n" not in message
    assert message.startswith(where.split(":")[0]), message
    assert where.split(": ", 1)[1] in message, message


def test_exactly_once_refuses_acks_1():
    data = yaml.safe_load(VALID) | {"semantics": "exactly-once"}
    data["workload"]["producers"][0]["client"] = {"acks": "1"}
    with pytest.raises(UsageError, match="exactly-once needs acks=all"):
        parse(yaml.safe_dump(data), "x.yaml")


@pytest.mark.parametrize("text, problem", [
    ("name: [unclosed", "not valid YAML"), ("- a\n- b\n", "is a mapping"), ("", "is a mapping"),
])
def test_not_an_experiment_at_all(text, problem):
    with pytest.raises(UsageError, match=problem):
        parse(text, "x.yaml")


def test_degraded_network_faults_turn_their_proxy_on():
    data = yaml.safe_load(VALID)
    data["faults"]["steps"].append({"at": 2, "fault": {"fault": "latency", "ms": 50}})
    experiment = parse(yaml.safe_dump(data))
    assert experiment.needed_proxies().clients and not experiment.needed_proxies().replication


def test_a_full_disk_fault_gives_each_node_a_disk_unless_one_is_sized():
    data = yaml.safe_load(VALID)
    assert parse(yaml.safe_dump(data)).needed_disk_mb() is None
    data["faults"]["steps"].append({"at": 2, "fault": {"fault": "full-disk", "target": 1}})
    assert parse(yaml.safe_dump(data)).needed_disk_mb() == DEFAULT_DISK_MB
    data["cluster"] = {"disk_mb": 512}
    assert parse(yaml.safe_dump(data)).needed_disk_mb() == 512


def test_storage_faults_without_root_are_refused_before_anything_starts(monkeypatch):
    data = yaml.safe_load(VALID)
    data["faults"]["steps"].append({"at": 2, "fault": {"fault": "full-disk", "target": 1}})
    text = yaml.safe_dump(data, sort_keys=False)
    parse(text, "disk.yaml")  # a valid experiment: only this machine cannot run it
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    line = text.splitlines().index("  - at: 2") + 1
    with pytest.raises(UsageError, match=rf"^disk.yaml:{line + 2}: faults.steps\[1\].fault: full-disk needs disks; "
                                         r"backend local offers .*processes.*here$"):
        parse(text, "disk.yaml", runnable=True)


def test_a_fault_whose_capability_the_backend_lacks_is_refused_with_its_line():
    data = yaml.safe_load(VALID)
    data["cluster"] = {"network": "loopback"}  # every node on 127.0.0.1: nothing to cut
    data["faults"]["steps"].append({"at": 2, "fault": {"fault": "partition", "shape": "isolate", "target": 1}})
    text = yaml.safe_dump(data, sort_keys=False)
    line = text.splitlines().index("  - at: 2") + 3  # the fault, two lines below its step
    with pytest.raises(UsageError) as refused:
        parse(text, "x.yaml", runnable=True)
    assert str(refused.value).startswith(f"x.yaml:{line}: faults.steps[1].fault: partition needs network; "
                                         "backend local offers ")
    assert "network" not in str(refused.value).split("offers")[1]
    data["faults"]["steps"][-1]["fault"] = {"fault": "kill", "target": {"leader": {"topic": "orders"}}}
    parse(yaml.safe_dump(data), "x.yaml", runnable=True)  # processes and topology: offered


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True), st.text(max_size=8))
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                       max_leaves=12)


def _mutate(data, path: list, value):
    target = data
    for part in path[:-1]:
        if isinstance(target, dict) and part in target:
            target = target[part]
        elif isinstance(target, list) and isinstance(part, int) and part < len(target):
            target = target[part]
        else:
            return data
    if isinstance(target, dict):
        target[path[-1]] = value
    elif isinstance(target, list) and isinstance(path[-1], int) and path[-1] < len(target):
        target[path[-1]] = value
    return data


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.lists(st.sampled_from(["name", "topics", "workload", "producers", "consumers", "faults", "steps",
                                      "fault", "target", "rate", "partitions", "phases", "anomalies", 0, 1]),
                     min_size=1, max_size=5), value=_values)
def test_no_malformed_experiment_gets_past_the_loader_as_anything_but_a_usage_error(path, value):
    data = _mutate(yaml.safe_load(VALID), path, value)
    try:
        parse(yaml.safe_dump(data), "fuzz.yaml")
    except UsageError as exc:
        assert str(exc).startswith("fuzz.yaml:") and "\n" not in str(exc)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300))
def test_no_text_gets_past_the_loader_as_anything_but_a_usage_error(text):
    try:
        parse(text, "fuzz.yaml")
    except UsageError:
        pass


def test_validate_exits_2_with_one_line_and_0_when_all_are_good(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(VALID.replace("rate: 100", "rate: -1"))
    result = kafka_chaos("validate", str(bad))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{bad}:8: workload.producers[0].rate: Input should be greater than 0" in result.stderr
    assert kafka_chaos("validate", *map(str, sorted(CATALOGUE.glob("*.yaml")))).returncode == 0


def test_run_refuses_an_invalid_file_before_starting_anything(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    result = kafka_chaos("run", str(bad), "--out", str(tmp_path / "runs"))
    assert result.returncode == 2 and not (tmp_path / "runs").exists()


def test_schema_and_list():
    schema = json.loads(kafka_chaos("schema").stdout)
    assert {"name", "topics", "workload", "faults", "anomalies"} <= set(schema["properties"])
    listing = kafka_chaos("list").stdout
    assert "leader-kill-acks-all" in listing and "violation" in listing


def test_topic_and_group_names_become_per_run_everywhere(tmp_path):
    data = yaml.safe_load(VALID)
    data["topics"].append({"name": "ledger"})
    data["workload"]["consumers"][0]["dead_letter_topic"] = "ledger"
    data["workload"]["consumers"][0]["poison_every"] = 10
    data["faults"]["steps"].append({"at": 2, "fault": {"fault": "bounce-leader", "partition": {"topic": "ledger"}}})
    plan = RunPlan.of(parse(yaml.safe_dump(data)), "x.yaml", RunDir(tmp_path / "run-1"))
    t = plan.tag
    assert [x.name for x in plan.topics] == [f"orders-{t}", f"ledger-{t}"]
    consumer = next(w for w in plan.workers if w.kind == "consumer")
    assert consumer.topics == [f"orders-{t}"] and consumer.group == f"g-{t}"
    assert consumer.dead_letter_topic == f"ledger-{t}"
    assert plan.schedule.steps[-1].fault.partition.topic == f"ledger-{t}"
    assert plan.groups == {f"g-{t}": [f"orders-{t}"]}
    assert plan.experiment.topics[0].name == "orders", "the experiment itself keeps its logical names"


def test_outcome_follows_the_expectation():
    failing = [SteadyCheck(name="throughput-recovers", passed=False, detail="")]
    assert decide(False, Verdict.PASS, []) == Outcome.PASS
    assert decide(False, Verdict.VIOLATION, []) == Outcome.VIOLATION
    assert decide(False, Verdict.PASS, failing) == Outcome.VIOLATION
    assert decide(True, Verdict.VIOLATION, []) == Outcome.CAUGHT
    assert decide(True, Verdict.PASS, failing) == Outcome.NOT_CAUGHT
    assert decide(False, Verdict.UNKNOWN, []) == Outcome.HARNESS_ERROR
    assert [o.exit_code for o in (Outcome.PASS, Outcome.CAUGHT, Outcome.VIOLATION, Outcome.HARNESS_ERROR)] == [0, 0, 1, 3]


def test_junit_names_each_failing_invariant_its_count_an_example_and_the_run(tmp_path):
    failed = RunRecord(experiment="bad", source="bad.yaml", run_dir=Path("/runs/1-bad"), semantics="at-least-once",
                       expect="pass", seed=0, outcome=Outcome.VIOLATION,
                       failing=[{"name": "lost-write", "count": 3, "status": "fail", "example": "p1:7 acknowledged at t-0@7"}])
    passed = failed.model_copy(update={"experiment": "good", "outcome": Outcome.PASS, "failing": []})
    junit.write([failed, passed], tmp_path / "junit.xml")
    text = (tmp_path / "junit.xml").read_text()
    assert 'tests="2" failures="1"' in text
    assert "lost-write x3: p1:7 acknowledged at t-0@7; run directory /runs/1-bad" in text
