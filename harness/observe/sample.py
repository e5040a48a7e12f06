"""One look at the cluster, and the file the observer keeps them in (the run directory's
samples), one JSON object per line, appended as taken (a killed harness leaves every complete line)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.files import Unreadable, json_lines
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


MAX_SAMPLE_LINES = 500_000
MAX_SAMPLE_BYTES = 512 * 2**20


def read_samples(run: RunDir | Path) -> list[Sample]:
    """A run's samples in time order (none when the run had no observer), read up to a bound;
    a line that is not a sample (cut short by a crash, or damaged) is skipped."""
    path = RunDir.of(run).samples
    samples = []
    try:
        for data in json_lines(path, MAX_SAMPLE_BYTES, MAX_SAMPLE_LINES):
            try:
                samples.append(Sample.from_dict(data))
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
    except Unreadable:
        return []
    return sorted((s for s in samples if isinstance(s.mono, int)), key=lambda s: s.mono)
