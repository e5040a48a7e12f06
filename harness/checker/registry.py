"""Invariants register here: adding one is writing one function, not editing a central switch.

    @invariant(AnomalyKind.PHANTOM)
    def phantoms(ctx: Context) -> Finding: ...

A check returns a Finding per kind it judges: whether the kind applies to this run, and one
row per anomaly (a DataFrame; `evidence` turns rows into what a reader sees).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from harness.checker.context import Context
from harness.checker.model import AnomalyKind


@dataclass
class Finding:
    kind: AnomalyKind
    applicable: bool
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    note: str = ""
    unknown: bool = False  # it applies but could not be judged (e.g. nothing proven)

    @property
    def count(self) -> int:
        return len(self.rows)


Check = Callable[[Context], Finding | list[Finding]]
Evidence = Callable[[Context, pd.DataFrame], list[dict]]

CHECKS: dict[tuple[AnomalyKind, ...], Check] = {}
EVIDENCE: dict[AnomalyKind, Evidence] = {}


def invariant(*kinds: AnomalyKind):
    """Register a check judging `kinds` (each kind is judged by exactly one check)."""
    def register(check: Check) -> Check:
        taken = {k for judged in CHECKS for k in judged} & set(kinds)
        if taken:
            raise ValueError(f"{sorted(taken)} already judged by another check")
        CHECKS[kinds] = check
        return check

    return register


def evidence(kind: AnomalyKind):
    def register(fn: Evidence) -> Evidence:
        EVIDENCE[kind] = fn
        return fn

    return register


def not_applicable(kind: AnomalyKind, note: str) -> Finding:
    return Finding(kind, applicable=False, note=note)
