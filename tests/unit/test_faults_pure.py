"""Fault specs, partition shapes and schedules (no cluster)."""

from __future__ import annotations

import random

import pytest
from pydantic import TypeAdapter, ValidationError

from harness.faults import FAULTS
from harness.faults.base import FaultError
from harness.faults.partition import bridge, majorities_ring, one_way, split
from harness.cluster.backend import Capability
from harness.faults.schedule import Nemesis, Schedule, Timeline, plan
from harness.faults.targets import Target
from harness.mounts import read_only_on_top

schedule = TypeAdapter(Schedule)


def test_every_fault_is_registered_under_its_own_name():
    assert {"kill", "stop", "pause", "rolling-restart", "bounce-leader", "partition", "cut-clients", "latency",
            "bandwidth", "slow-close", "reset-peer", "blackhole", "kill-worker", "pause-worker", "stop-worker",
            "read-only-log-dir", "full-disk", "add-partitions", "elect-preferred-leader", "packet-loss"} <= set(FAULTS)
    assert all(cls.model_fields["fault"].default == name for name, cls in FAULTS.items())


@pytest.mark.parametrize("written, expected", [
    (2, "node 2"), ("controller", "controller"), ("minority", "minority"),
    ({"leader": {"topic": "orders", "partition": 3}}, "leader of orders-3"),
    ({"followers": {"topic": "orders"}}, "followers of orders-0"),
])
def test_targets_are_written_briefly(written, expected):
    assert str(Target.model_validate(written)) == expected


@pytest.mark.parametrize("bad", ["everyone", True, {"node": 1, "pick": "all"}, {}])
def test_bad_targets_are_refused(bad):
    with pytest.raises(ValidationError):
        Target.model_validate(bad)


def test_split_cuts_every_pair_across_components_both_ways():
    assert split([{1}, {2, 3}]) == {1: {2, 3}, 2: {1}, 3: {1}}


def test_one_way_keeps_only_the_isolated_sides_drops():
    assert one_way(split([{1}, {2, 3}]), {1}) == {1: {2, 3}}


def test_bridge_node_hears_everyone_and_the_halves_nobody_across():
    grudge = bridge([1, 2, 3, 4, 5], random.Random(3))
    middle = ({1, 2, 3, 4, 5} - set(grudge)).pop()
    assert all(middle not in peers for peers in grudge.values())
    assert len(grudge) == 4 and all(len(peers) == 2 for peers in grudge.values())


def test_majorities_ring_gives_every_node_a_different_majority():
    nodes = [1, 2, 3, 4, 5]
    grudge = majorities_ring(nodes, random.Random(1))
    heard = {n: frozenset(set(nodes) - grudge[n]) for n in nodes}
    assert all(len(h) == 3 for h in heard.values())
    assert len(set(heard.values())) == 5


def test_majorities_ring_needs_five_nodes():
    with pytest.raises(FaultError, match="at least 5"):
        majorities_ring([1, 2, 3], random.Random(1))


def test_timeline_plans_each_step_with_its_heal():
    timeline = schedule.validate_python({"kind": "timeline", "steps": [
        {"at": 10, "duration": 5, "fault": {"fault": "kill", "target": "controller"}},
        {"at": 2, "fault": {"fault": "latency", "ms": 100}}]})
    planned = plan(timeline, seed=1, length_s=30)
    assert [(p.start, p.end, p.fault.name) for p in planned] == [(2, 30, "latency"), (10, 15, "kill")]
    assert [p.fault.capabilities() for p in planned] == [{Capability.CLIENT_PROXIES},
                                                         {Capability.PROCESSES, Capability.QUORUM}]
    assert [p.fault.provisions().proxies for p in planned] == [{"clients"}, set()]


def test_a_fault_needs_what_its_target_needs():
    assert FAULTS["kill"](target=2).capabilities() == {Capability.PROCESSES}
    assert FAULTS["kill"](target="controller").capabilities() == {Capability.PROCESSES, Capability.QUORUM}
    assert FAULTS["partition"](target={"leader": {"topic": "t"}}).capabilities() == {
        Capability.NETWORK, Capability.TOPOLOGY}


def test_faults_on_the_client_side_need_only_the_client_side():
    """What the external backend can offer: the path between the workers and the brokers."""
    assert FAULTS["cut-clients"]().capabilities() == {Capability.CLIENT_NETWORK}
    assert FAULTS["packet-loss"](share=0.5, peers="clients").capabilities() == {Capability.CLIENT_NETWORK}
    assert FAULTS["packet-loss"](share=0.5).capabilities() == {Capability.NETWORK}
    assert FAULTS["latency"](ms=5).capabilities() == {Capability.CLIENT_PROXIES}
    assert FAULTS["latency"](ms=5, path="replication").capabilities() == {Capability.PROXIES}
    assert FAULTS["cut-clients"](target={"leader": {"topic": "t"}}).capabilities() == {
        Capability.CLIENT_NETWORK, Capability.TOPOLOGY}
    assert FAULTS["kill-worker"](worker="c1").capabilities() == set()
    assert FAULTS["full-disk"](target=1).provisions().own_disks


def test_same_seed_same_nemesis_plan_and_another_seed_another():
    nemesis = Nemesis(faults=[{"fault": "kill", "target": "random"}, {"fault": "pause", "target": "minority"},
                              {"fault": "partition", "shape": "halves"}])
    first, again, other = plan(nemesis, 42, 300), plan(nemesis, 42, 300), plan(nemesis, 43, 300)
    assert first == again and first != other
    assert all(p.end <= 300 for p in first)
    assert all(a.end <= b.start for a, b in zip(first, first[1:])), "no overlap unless asked"


def test_overlapping_nemesis_may_start_before_the_last_heals():
    nemesis = Nemesis(faults=[{"fault": "pause", "target": "random"}], duration_s=(20, 20), stable_s=(5, 5),
                      overlap=True)
    planned = plan(nemesis, 1, 60)
    assert any(b.start < a.end for a, b in zip(planned, planned[1:]))


@pytest.mark.parametrize("bad", [
    {"kind": "timeline", "steps": []},
    {"kind": "timeline", "steps": [{"at": -1, "fault": {"fault": "kill", "target": 1}}]},
    {"kind": "timeline", "steps": [{"at": 1, "fault": {"fault": "explode"}}]},
    {"kind": "nemesis", "faults": [{"fault": "kill", "target": 1}], "stable_s": [5, 1]},
])
def test_bad_schedules_are_refused(bad):
    with pytest.raises(ValidationError):
        schedule.validate_python(bad)


def test_timeline_is_the_default_kind_written():
    assert isinstance(schedule.validate_python({"kind": "timeline", "steps": [
        {"at": 0, "fault": {"fault": "pause", "target": 1}}]}), Timeline)


def test_every_capability_is_reached_through_a_property_of_env():
    """A fault writes `env.security.revoke(...)`: an accessor that lost its @property hands it a
    bound method instead, and the fault fails only at run time, on a real cluster."""
    from harness.faults.base import Env

    accessors = ["processes", "topology", "network", "client_network", "proxies", "disks", "power", "clocks",
                 "protocol", "security"]
    assert [name for name in accessors if not isinstance(vars(Env).get(name), property)] == []


def test_cut_worker_drops_its_open_sockets_by_port_and_its_new_ones_by_cgroup():
    from harness.faults.cut_worker import rules

    specs = rules("c1:cut-worker-ab12", "kc-cut-c1-ab12", [40001, 40000, 40001])
    tagged = ["-m", "comment", "--comment", "kafka-chaos:c1:cut-worker-ab12", "-j", "DROP"]
    assert specs == [["OUTPUT", "-m", "cgroup", "--path", "kc-cut-c1-ab12", *tagged],
                     ["OUTPUT", "-p", "tcp", "--sport", "40000", *tagged],
                     ["INPUT", "-p", "tcp", "--dport", "40000", *tagged],
                     ["OUTPUT", "-p", "tcp", "--sport", "40001", *tagged],
                     ["INPUT", "-p", "tcp", "--dport", "40001", *tagged]]
    assert FAULTS["cut-worker"].model_validate({"fault": "cut-worker", "worker": "s1"}).capabilities() == {
        Capability.CLIENT_NETWORK}


LAZY = "kafka-chaos-lazy-run /n/1/data fuse.lazyfs rw,nosuid,nodev,relatime,user_id=0,group_id=0 0 0"
ROOT = "/dev/sda1 / ext4 rw,relatime 0 0"


def bind(options: str, point: str = "/n/1/data") -> str:
    return f"/dev/sda1 {point} ext4 {options},relatime 0 0"


@pytest.mark.parametrize("mounts, expected", [
    ([ROOT], 0),                                           # a plain directory, not read-only
    ([ROOT, bind("ro")], 1),                               # the fault's bind on a plain directory
    ([ROOT, LAZY], 0),                                     # the node's lazyfs: it must stay
    ([ROOT, LAZY, bind("ro")], 1),                         # the fault's bind over lazyfs: only that
    ([ROOT, LAZY, bind("ro"), bind("ro")], 2),             # injected twice
    ([ROOT, LAZY, bind("ro", "/n/1/data/x")], 0),          # another directory
    ([ROOT, bind("rw")], 0),                               # a container's data volume: it must stay
    ([ROOT, bind("rw"), bind("ro")], 1),                   # the fault's bind over the volume: only that
])
def test_only_the_read_only_mounts_on_top_of_a_log_directory_are_the_faults(mounts, expected):
    assert read_only_on_top("\n".join(mounts), "/n/1/data") == expected
