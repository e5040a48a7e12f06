"""One look at the cluster, and the file the observer keeps them in (the run directory's
samples), one JSON object per line, appended as taken (a killed harness leaves every complete line)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.rundir import RunDir


@dataclass(frozen=True)
class PartitionSample:
    topic: str
    partition: int
    leader: int | None
    epoch: int
    isr: tuple[int, ...]
    replicas: tuple[int, ...]

    @property
    def key(self) -> tuple[str, int]:
        return self.topic, self.partition


@dataclass(frozen=True)
class GroupSample:
    group: str
    state: str
    members: tuple[str, ...]
    assignment: tuple[tuple[str, int, str], ...]  # (topic, partition, member client id)
    lag: tuple[tuple[str, int, int], ...]  # (topic, partition, records not yet committed)


@dataclass(frozen=True)
class Sample:
    """`partitions`, `controller` or a group are None/absent when the cluster could not say."""
    mono: int
    wall: int
    controller: int | None
    quorum_epoch: int | None
    partitions: tuple[PartitionSample, ...] | None
    groups: tuple[GroupSample, ...] = ()
    errors: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict) -> "Sample":
        partitions = data.get("partitions")
        return cls(mono=data["mono"], wall=data["wall"], controller=data.get("controller"),
                   quorum_epoch=data.get("quorum_epoch"),
                   partitions=None if partitions is None else tuple(
                       PartitionSample(**{**p, "isr": tuple(p["isr"]), "replicas": tuple(p["replicas"])})
                       for p in partitions),
                   groups=tuple(GroupSample(g["group"], g["state"], tuple(g["members"]),
                                            tuple(map(tuple, g["assignment"])), tuple(map(tuple, g["lag"])))
                                for g in data.get("groups", ())),
                   errors=tuple(data.get("errors", ())))


def read_samples(run: RunDir | Path) -> list[Sample]:
    """A run's samples in time order (none when the run had no observer)."""
    path = RunDir.of(run).samples
    if not path.exists():
        return []
    samples = []
    for line in path.read_text().splitlines():
        try:
            samples.append(Sample.from_dict(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut short by a crash
    return sorted(samples, key=lambda s: s.mono)
