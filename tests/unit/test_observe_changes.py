"""Events derived from two observer samples (no cluster needed)."""

from harness.observe.changes import changes
from harness.observe.sample import GroupSample, PartitionSample, Sample


def sample(partitions=None, controller=1, groups=()) -> Sample:
    return Sample(mono=0, wall=0, controller=controller, quorum_epoch=3, partitions=partitions, groups=groups)


def part(leader, isr, epoch=1, partition=0) -> PartitionSample:
    return PartitionSample("orders", partition, leader, epoch, tuple(isr), (1, 2, 3))


def kinds(found) -> list[str]:
    return [c.kind for c in found]


def test_nothing_changed_is_no_event():
    same = sample((part(1, [1, 2, 3]),))
    assert changes(same, same) == []


def test_leader_change_and_isr_shrink_name_the_partition():
    found = changes(sample((part(1, [1, 2, 3]),)), sample((part(2, [2, 3], epoch=2),)))
    assert kinds(found) == ["leader-change", "isr-shrink"]
    assert found[0].text == "orders-0 leader 1 → 2 (epoch 2)" and (found[0].topic, found[0].partition) == ("orders", 0)
    assert found[1].text == "orders-0 ISR 1,2,3 → 2,3 (out: 1)"


def test_no_leader_is_offline_and_isr_growth_is_expand():
    assert kinds(changes(sample((part(1, [1]),)), sample((part(None, [1], epoch=2),)))) == ["offline"]
    assert kinds(changes(sample((part(2, [2, 3]),)), sample((part(2, [1, 2, 3]),)))) == ["isr-expand"]


def test_a_partition_the_cluster_could_not_describe_is_not_a_change():
    assert changes(sample((part(1, [1, 2, 3]),)), sample(None)) == []
    assert changes(sample((part(1, [1, 2, 3]),)), sample((part(1, [1, 2, 3], partition=1),))) == []


def test_controller_change():
    found = changes(sample(controller=1), sample(controller=2))
    assert kinds(found) == ["controller-change"] and found[0].text.startswith("controller 1 → 2")
    assert changes(sample(controller=1), sample(controller=None)) == []


def test_rebalance_reports_members_and_idle_ones():
    before = GroupSample("g", "STABLE", ("a",), (("orders", 0, "a"),), ())
    after = GroupSample("g", "STABLE", ("a", "b"), (("orders", 0, "a"),), ())
    [change] = changes(sample(groups=(before,)), sample(groups=(after,)))
    assert change.kind == "rebalance" and change.group == "g"
    assert change.text == "group g: stable, 2 members, 1 without partitions"
    assert changes(sample(groups=(after,)), sample(groups=(after,))) == []
