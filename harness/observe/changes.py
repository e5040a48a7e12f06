"""What changed between two samples, as events a person reads: leader changes, ISR shrinks and
expansions, controller changes, rebalances. Pure, so it is tested without a cluster. Only what
both samples saw is compared: a partition or group the cluster could not describe once is not
a change."""

from __future__ import annotations

from dataclasses import dataclass

from harness.observe.sample import GroupSample, PartitionSample, Sample


@dataclass(frozen=True)
class Change:
    kind: str  # leader-change, offline, isr-shrink, isr-expand, controller-change, rebalance
    text: str
    topic: str | None = None
    partition: int | None = None
    group: str | None = None


def changes(before: Sample, after: Sample) -> list[Change]:
    found = []
    if before.controller is not None and after.controller is not None and before.controller != after.controller:
        found.append(Change("controller-change", f"controller {before.controller} → {after.controller}"
                                                 f" (quorum epoch {after.quorum_epoch})"))
    if before.partitions is not None and after.partitions is not None:
        old = {p.key: p for p in before.partitions}
        for new in after.partitions:
            if new.key in old:
                found += partition_changes(old[new.key], new)
    old_groups = {g.group: g for g in before.groups}
    for group in after.groups:
        if group.group in old_groups:
            found += group_changes(old_groups[group.group], group)
    return found


def partition_changes(old: PartitionSample, new: PartitionSample) -> list[Change]:
    name, found = f"{new.topic}-{new.partition}", []

    def change(kind: str, text: str) -> None:
        found.append(Change(kind, f"{name} {text}", new.topic, new.partition))

    if new.leader != old.leader or new.epoch != old.epoch:
        if new.leader is None:
            change("offline", f"offline: no leader (was {old.leader})")
        else:
            change("leader-change", f"leader {_node(old.leader)} → {new.leader} (epoch {new.epoch})")
    gone, back = set(old.isr) - set(new.isr), set(new.isr) - set(old.isr)
    if gone:
        change("isr-shrink", f"ISR {_ids(old.isr)} → {_ids(new.isr)} (out: {_ids(gone)})")
    if back:
        change("isr-expand", f"ISR {_ids(old.isr)} → {_ids(new.isr)} (back: {_ids(back)})")
    return found


def group_changes(old: GroupSample, new: GroupSample) -> list[Change]:
    if (old.state, old.members, old.assignment) == (new.state, new.members, new.assignment):
        return []
    owners = {}
    for _, _, member in new.assignment:
        owners[member] = owners.get(member, 0) + 1
    idle = len(set(new.members) - set(owners))
    text = (f"group {new.group}: {new.state.lower()}, {len(new.members)} members"
            + (f", {idle} without partitions" if idle and new.assignment else "")
            + ("" if old.assignment == new.assignment else ", assignment changed"))
    return [Change("rebalance", text, group=new.group)]


def _node(node: int | None) -> str:
    return "none" if node is None else str(node)


def _ids(ids) -> str:
    return ",".join(map(str, sorted(ids))) or "none"
