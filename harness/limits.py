"""Bounds on the numbers an experiment may hold. A phase of `inf` or 10^30 seconds is a typo, not
a plan: it would validate and then never end. Every duration is finite and at most a day."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_SECONDS = 86_400.0  # a day: longer phases, fault times or timeouts are mistakes

Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False)]
PositiveSeconds = Annotated[float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False)]
Millis = Annotated[int, Field(ge=0, le=int(MAX_SECONDS * 1000))]
