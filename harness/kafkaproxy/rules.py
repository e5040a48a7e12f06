"""What the proxy does to a chosen API's responses: delay them, drop them and close the
connection, or answer with a chosen error code (the broker's real response with its error
codes rewritten). A rule is JSON on the control port; the fault builds it."""

from __future__ import annotations

import random
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Action(StrEnum):
    DELAY = "delay"  # hold the response (and those behind it on the connection) for delay_ms
    DROP = "drop"  # the broker did the work; the client never hears, its connection closes
    ERROR = "error"  # the broker did the work; the client hears error_code instead
    INSPECT = "inspect"  # read the response at its version and count it, changing nothing


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tag: str = Field(min_length=1, max_length=100)
    apis: frozenset[int] = Field(min_length=1, description="api keys")
    action: Action
    delay_ms: int = Field(0, ge=0, le=600_000)
    error_code: int = Field(0, ge=-1, le=32767)
    share: float = Field(1.0, gt=0, le=1, description="of the matching responses acted on")

    def applies(self, api_key: int, rng: random.Random) -> bool:
        return api_key in self.apis and (self.share >= 1 or rng.random() < self.share)
