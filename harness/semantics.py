"""The delivery semantics an experiment chooses (the table in docs/ARCHITECTURE.md): shared by
the workload presets and the checker's policies."""

from enum import StrEnum


class Semantics(StrEnum):
    AT_MOST_ONCE = "at-most-once"
    AT_LEAST_ONCE = "at-least-once"
    EXACTLY_ONCE = "exactly-once"
