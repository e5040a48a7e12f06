"""When faults happen: a fixed timeline, or a seeded random nemesis. Planning is pure: the
same schedule, seed and length always give the same plan."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.faults import FAULTS
from harness.faults.base import FaultSpec
from harness.limits import PositiveSeconds, Seconds

AnyFault = Annotated[Union[tuple(FAULTS.values())], Field(discriminator="fault")]  # noqa: UP007


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Step(_Strict):
    at: Seconds = Field(description="seconds into the fault phase")
    duration: PositiveSeconds | None = Field(None, description="healed this much later; unset: at the phase's end")
    fault: AnyFault


class Timeline(_Strict):
    kind: Literal["timeline"] = "timeline"
    steps: list[Step] = Field(min_length=1)


class Nemesis(_Strict):
    """Random faults from `faults`, each lasting `duration_s`, with `stable_s` of calm between."""

    kind: Literal["nemesis"] = "nemesis"
    faults: list[AnyFault] = Field(min_length=1)
    duration_s: tuple[PositiveSeconds, PositiveSeconds] = (5.0, 15.0)
    stable_s: tuple[PositiveSeconds, PositiveSeconds] = (5.0, 15.0)
    overlap: bool = Field(False, description="start the next fault without waiting for the last to heal")

    @model_validator(mode="after")
    def _ranges(self) -> "Nemesis":
        for name in ("duration_s", "stable_s"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"{name} must be [low, high] with 0 < low <= high")
        return self


Schedule = Annotated[Union[Timeline, Nemesis], Field(discriminator="kind")]  # noqa: UP007


@dataclass(frozen=True)
class Planned:
    index: int
    start: float  # seconds into the fault phase
    end: float  # when it is healed
    fault: FaultSpec


def plan(schedule: Timeline | Nemesis, seed: int, length_s: float) -> list[Planned]:
    if isinstance(schedule, Timeline):
        steps = sorted(schedule.steps, key=lambda s: s.at)
        return [Planned(i, s.at, min(length_s, s.at + s.duration) if s.duration else length_s, s.fault)
                for i, s in enumerate(steps) if s.at < length_s]
    rng = random.Random(seed)
    planned, t = [], rng.uniform(*schedule.stable_s)
    while t < length_s:
        fault = rng.choice(schedule.faults)
        end = min(length_s, t + rng.uniform(*schedule.duration_s))
        planned.append(Planned(len(planned), round(t, 3), round(end, 3), fault))
        t = (t if schedule.overlap else end) + rng.uniform(*schedule.stable_s)
    return planned
