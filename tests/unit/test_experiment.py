"""Experiment files: the catalogue validates, bad files get one clear line, the loader never
lets a traceback out, and outcomes map to exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import UsageError
from harness.experiment.catalogue import CATALOGUE, catalogue
from harness.cluster.spec import DEFAULT_DISK_MB
from harness.checker.model import Verdict
from harness.experiment.loader import MAX_EXPANDED, MAX_NODES, load_experiment, parse
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


# A guard against expanding or reading without end (an alias bomb, /dev/zero), which would take
# minutes or forever; generous, since a loaded 2-core machine stalls a process for a second at times.
PROMPTLY_S = 5.0


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


# ---- hostile and subtly wrong files (issue 19): each class refused with file:line, field, reason ----


def refused(text: str, source: str = "bad.yaml") -> str:
    """The one line a file is refused with (it must be refused)."""
    with pytest.raises(UsageError) as caught:
        parse(text, source)
    message = str(caught.value)
    assert message.startswith(f"{source}:") and "\n" not in message, message
    return message


def _nested(depth: int, kind: str) -> str:
    if kind == "flow-list":
        return "name: x\nx: " + "[" * depth + "]" * depth + "\n"
    if kind == "flow-map":
        return "name: x\nx: " + "{a: " * depth + "1" + "}" * depth + "\n"
    if kind == "block-list":
        return "name: x\nx:\n" + "".join("  " * i + "-\n" for i in range(1, depth)) + "  " * depth + "- 1\n"
    return "name: x\nx:\n" + "".join("  " * i + "a:\n" for i in range(1, depth)) + "  " * depth + "a: 1\n"


@settings(max_examples=30, deadline=None)
@given(depth=st.integers(65, 5000), kind=st.sampled_from(["flow-list", "flow-map", "block-list", "block-map"]))
def test_deep_nesting_is_refused_not_a_recursion_error(depth, kind):
    message = refused(_nested(depth, kind))
    assert "nested" in message or "nesting depth" in message, message


@settings(max_examples=30, deadline=None)
@given(levels=st.integers(4, 12), fanout=st.integers(5, 12), container=st.sampled_from(["list", "map"]))
def test_alias_bombs_are_refused_quickly(levels, fanout, container):
    def refs(level: int) -> str:
        if container == "list":
            return "[" + ", ".join([f"*a{level - 1}"] * fanout) + "]"
        return "{" + ", ".join(f"k{i}: *a{level - 1}" for i in range(fanout)) + "}"
    lines = ["name: bomb", "a0: &a0 [lol, lol, lol]"] + [f"a{i}: &a{i} {refs(i)}" for i in range(1, levels)]
    text = "\n".join(lines) + "\ntopics: [{name: t, config: {x: *a" + str(levels - 1) + "}}]\n"
    started = time.monotonic()
    with pytest.raises(UsageError) as caught:
        parse(text, "bomb.yaml")
    assert time.monotonic() - started < PROMPTLY_S
    size = 4  # a0: a list of three
    for _ in range(1, levels):
        size = 1 + fanout * (size if container == "list" else 1 + size)
    if 2 * size > MAX_EXPANDED:  # defined once, used once
        assert "aliases expand this to more than" in str(caught.value)


def test_an_alias_to_the_node_it_is_inside_is_refused():
    assert "alias *a refers to a node it is inside" in refused("name: x\nx: &a [1, *a]\n")


def _mappings(node, found):
    if isinstance(node, yaml.MappingNode):
        found.append(node)
        for key, value in node.value:
            _mappings(value, found)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _mappings(item, found)
    return found


@settings(max_examples=30, deadline=None)
@given(which=st.integers(0, 10**6), entry=st.integers(0, 10**6))
def test_a_key_twice_in_one_mapping_is_refused(which, entry):
    tree = yaml.compose(VALID)
    mappings = _mappings(tree, [])
    mapping = mappings[which % len(mappings)]
    key, value = mapping.value[entry % len(mapping.value)]
    mapping.value.append((yaml.ScalarNode(key.tag, key.value), value))  # the same key again, later on
    text = yaml.serialize(tree)
    message = refused(text)
    assert f"key {key.value!r} appears twice in one mapping" in message
    line = int(message.split(":")[1])
    assert key.value in text.splitlines()[line - 1]  # the line of the repeated key


def test_files_that_are_not_experiments_are_refused_promptly(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # no writer: opening it to read would block forever
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as out:
        out.truncate(2**30)  # 1 GB (sparse)
    line = tmp_path / "line.yaml"
    line.write_text("name: " + "a" * (50 * 2**20))  # one 50 MB line
    for path, problem in ((fifo, "a FIFO, not a regular file"), ("/dev/zero", "a character device"),
                          ("/dev/urandom", "a character device"), (huge, "more than the 1048576 bytes"),
                          (line, "more than the 1048576 bytes"), (tmp_path, "a directory")):
        started = time.monotonic()
        with pytest.raises(UsageError, match=problem):
            load_experiment(Path(path))
        assert time.monotonic() - started < PROMPTLY_S, path
    result = kafka_chaos("validate", str(fifo), "/dev/zero", "/dev/urandom", str(huge))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 4


def test_a_file_of_too_many_values_is_refused_quickly():
    text = "name: x\nx: [" + ", ".join(["1"] * (MAX_NODES + 10)) + "]\n"
    started = time.monotonic()
    assert f"more than {MAX_NODES} values" in refused(text)
    assert time.monotonic() - started < PROMPTLY_S


_DURATIONS = [("phases", "steady_s"), ("phases", "faults_s"), ("phases", "recovery_s"), ("phases", "drain_timeout_s"),
              ("phases", "final_read_timeout_s"), ("faults", "steps", 0, "at"), ("faults", "steps", 0, "duration"),
              ("workload", "consumers", 0, "processing_ms"), ("steady_state", "throughput_recovers", "within_s")]


@settings(max_examples=40, deadline=None)
@given(where=st.sampled_from(_DURATIONS),
       value=st.sampled_from([float("inf"), float("-inf"), float("nan"), 1e308, 10**30, 1e20, 86_400_001]))
def test_durations_that_are_not_finite_or_absurd_are_refused(where, value):
    data = yaml.safe_load(VALID)
    target = data
    for part in where[:-1]:
        target = target.setdefault(part, {}) if isinstance(part, str) else target[part]
    target[where[-1]] = value
    message = refused(yaml.safe_dump(data, sort_keys=False))
    assert ".".join(str(p) for p in where if isinstance(p, str))[-10:].split(".")[-1] in message
    assert any(word in message for word in ("finite", "less than or equal", "greater than")), message


@settings(max_examples=30, deadline=None)
@given(rf=st.integers(1, 3), min_isr=st.one_of(st.integers(-3, 9), st.sampled_from(["two", "1.5", True, 2.5])),
       where=st.sampled_from(["topic", "broker"]))
def test_min_insync_replicas_that_no_write_can_meet_is_refused(rf, min_isr, where):
    data = yaml.safe_load(VALID)
    data["topics"][0]["replication_factor"] = rf
    if where == "topic":
        data["topics"][0]["config"] = {"min.insync.replicas": min_isr}
    else:
        data["topics"][0]["config"] = {"min.insync.replicas": 1}
        data["cluster"] = {"broker_config": {"min.insync.replicas": min_isr}}
    text = yaml.safe_dump(data, sort_keys=False)
    good = type(min_isr) is int and 1 <= min_isr <= (rf if where == "topic" else 3)
    if good:
        parse(text)
    else:
        assert "min.insync.replicas" in refused(text)


def test_a_topic_with_the_cluster_default_min_isr_above_its_replicas_is_refused_when_written_with_acks_all():
    data = yaml.safe_load(VALID)
    data["topics"][0]["replication_factor"] = 1  # the lab's min.insync.replicas is 2
    assert "acks=all writes could never succeed" in refused(yaml.safe_dump(data))
    data["semantics"] = "at-most-once"  # acks=1: min ISR does not apply
    parse(yaml.safe_dump(data))


def test_a_topic_declared_twice_is_refused():
    data = yaml.safe_load(VALID)
    data["topics"].append({"name": "orders", "partitions": 2})
    assert "topics[1].name: topic 'orders' is declared twice" in refused(yaml.safe_dump(data))


@settings(max_examples=30, deadline=None)
@given(length=st.floats(0, 60), at=st.floats(0, 120))
def test_fault_steps_outside_the_fault_phase_are_refused(length, at):
    data = yaml.safe_load(VALID)
    data["phases"] = {"faults_s": length}
    data["faults"]["steps"][0]["at"] = at
    text = yaml.safe_dump(data)
    if length == 0:
        assert "phases.faults_s: the fault phase lasts 0 s" in refused(text)
    elif at >= length:
        assert "faults.steps[0].at: starts at" in refused(text)
    else:
        parse(text)


_REFERENCES = [
    ({"fault": "kill", "target": {"leader": {"topic": "nope"}}}, "fault.target.leader.topic: topic 'nope' is not declared"),
    ({"fault": "kill", "target": {"leader": {"topic": "orders", "partition": 3}}}, "orders has no partition 3"),
    ({"fault": "pause", "target": {"followers": {"topic": "orders", "partition": 7}}}, "orders has no partition 7"),
    ({"fault": "kill", "target": 4}, "no node 4: the cluster's nodes are 1..3"),
    ({"fault": "stop", "target": 0}, "no node 0"),
    ({"fault": "bounce-leader", "partition": {"topic": "other"}}, "topic 'other' is not declared"),
    ({"fault": "add-partitions", "topic": "nope", "to": 6}, "topic 'nope' is not declared"),
    ({"fault": "add-partitions", "topic": "orders", "to": 3}, "orders already has 3 partitions"),
    ({"fault": "rolling-restart", "topics": ["orders", "nope"]}, "fault.topics[1]: topic 'nope' is not declared"),
    ({"fault": "elect-preferred-leader", "partitions": [{"topic": "orders", "partition": 9}]}, "no partition 9"),
    ({"fault": "full-disk", "target": 5}, "no node 5"),
    ({"fault": "latency", "ms": 10, "target": 9}, "no node 9"),
]


@pytest.mark.parametrize("fault, problem", _REFERENCES)
def test_faults_naming_what_the_experiment_lacks_are_refused(fault, problem):
    data = yaml.safe_load(VALID)
    data["faults"]["steps"].append({"at": 2, "fault": fault})
    assert problem in refused(yaml.safe_dump(data))


@settings(max_examples=30, deadline=None)
@given(nodes=st.integers(1, 9), partitions=st.integers(1, 12), node=st.integers(-2, 12), partition=st.integers(0, 14))
def test_fault_references_are_checked_against_the_cluster_and_topics(nodes, partitions, node, partition):
    data = yaml.safe_load(VALID)
    data["cluster"] = {"nodes": nodes}
    data["topics"][0].update(partitions=partitions, replication_factor=min(3, nodes),
                             config={"min.insync.replicas": 1})
    data["faults"]["steps"] = [{"at": 1, "fault": {"fault": "kill", "target": node}},
                               {"at": 2, "fault": {"fault": "kill", "target": {"leader": {"topic": "orders",
                                                                                        "partition": partition}}}}]
    text = yaml.safe_dump(data)
    if 1 <= node <= nodes and partition < partitions:
        parse(text)
    else:
        message = refused(text)
        assert (f"no node {node}" in message) if not 1 <= node <= nodes else f"has no partition {partition}" in message


@pytest.mark.parametrize("fault, problem", [
    ({"fault": "kill"}, "faults.steps[1].fault.target: Field required"),
    ({"fault": "pause", "target": None}, "faults.steps[1].fault.target:"),
    ({"fault": "elect-preferred-leader", "partitions": []}, "fault.partitions: List should have at least 1 item"),
    ({"fault": "partition", "shape": "majorities-ring"}, "majorities-ring needs at least 5 nodes"),
    ({"fault": "partition", "target": "all"}, "isolating every node from no one cuts nothing"),
    ({"fault": "partition", "shape": "halves", "target": 1}, "shape halves picks its own sides"),
    ({"fault": "kill-worker"}, "fault.worker: Field required"),
])
def test_faults_that_need_a_target_and_have_none_are_refused(fault, problem):
    data = yaml.safe_load(VALID)
    data["faults"]["steps"].append({"at": 2, "fault": fault})
    assert problem in refused(yaml.safe_dump(data))


def test_followers_of_a_topic_without_replicas_are_no_target():
    data = yaml.safe_load(VALID)
    data["semantics"] = "at-most-once"
    data["topics"][0]["replication_factor"] = 1
    data["faults"]["steps"].append({"at": 2, "fault": {"fault": "kill", "target": {"followers": {"topic": "orders"}}}})
    assert "orders has replication factor 1: its partitions have no followers" in refused(yaml.safe_dump(data))


def test_a_nemesis_whose_first_fault_comes_after_the_phase_is_refused():
    data = yaml.safe_load(VALID)
    data["faults"] = {"kind": "nemesis", "faults": [{"fault": "kill", "target": 1}], "stable_s": [40, 50]}
    assert "faults.stable_s: the first fault comes after at least 40 s of calm" in refused(yaml.safe_dump(data))


@settings(max_examples=20, deadline=None)
@given(value=st.one_of(st.dictionaries(st.text(max_size=3), st.integers(), min_size=1, max_size=2),
                       st.lists(st.integers(), min_size=1, max_size=2), st.none()))
def test_a_config_value_of_the_wrong_type_says_what_is_allowed(value):
    data = yaml.safe_load(VALID)
    data["topics"][0]["config"] = {"x": value}
    message = refused(yaml.safe_dump(data))
    assert "topics[0].config.x: should be a string, an integer, a number or true or false" in message
    assert ".str" not in message


@pytest.mark.parametrize("value", ["9" * 5000, "2001-13-45", "!!timestamp foo", "!!binary ZZZ", "!!float x", "!!int x",
                                   "!!python/object:os.system {}", "&a [*a]"])
def test_values_yaml_cannot_make_are_refused_at_their_line(value):
    message = refused(f"name: x\nseed: {value}\n")
    assert message.startswith("bad.yaml:2: "), message


_TOKENS = ["name: x\n", "topics:", " [", "]", " {", "}", ", ", ": ", "\n  - ", "\n", "&a ", "*a", "<<: ", "!!set ",
           "!!omap ", "!!pairs ", "!!timestamp ", "!!binary ", "!!int ", "!!float ", "!!bool ", "!!null ", "!!str ",
           "? ", "- ", "2001-12-14t21:59:43.10-05:00", "2001-02-30", "0x" + "f" * 30, "9" * 4400, "1e400", ".nan",
           "-.inf", "0o777", "0b1012", "1_000", "~", "yes", "key", "'q'", '"\\u0000"', "|\n  x\n", ">-\n  y\n", "---\n",
           "...\n", "%YAML 1.1\n", "#c\n", "\t", "\x00", "\ufeff"]


@settings(max_examples=300, deadline=None)
@given(tokens=st.lists(st.sampled_from(_TOKENS), max_size=40))
def test_no_yaml_of_any_shape_gets_past_the_loader_as_anything_but_a_usage_error(tokens):
    try:
        parse("".join(tokens), "fuzz.yaml")
    except UsageError as exc:
        assert str(exc).startswith("fuzz.yaml:") and "\n" not in str(exc)


def test_a_key_with_a_newline_or_control_character_is_named_on_one_line():
    good = (CATALOGUE / "leader-kill-acks-all.yaml").read_text()
    text = good.replace("phases: {", 'phases: {"a\\nb\\u001b": 3, ', 1)
    assert refused(text).endswith(r"phases.a\nb\x1b: unknown field")
