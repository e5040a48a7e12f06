"""The shrinking search, pure: from a failing candidate, greedily take the first smaller candidate
that still fails, until none does or the budget is spent.

    best = search(start, smaller, fails, tries=2, budget_s=1800)

`smaller(c)` yields candidates smaller than `c`, the boldest first (drop half the faults before
one fault, halve a duration before trimming it). `fails(c)` runs a candidate once; a candidate
counts as failing if any of its `tries` fails, since a chaos run that shows a bug sometimes
does not show it every time. The smallest tends to sit at the edge of what fails, so the answer
is confirmed: run again (up to `tries` times) it must fail once more, else the search steps back
to the candidate before it. Nothing here knows about Kafka.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

C = TypeVar("C")


@dataclass
class Step(Generic[C]):
    """One candidate tried: what it was, whether it failed, after how many tries."""

    candidate: C
    failed: bool
    tries: int


@dataclass
class Shrunk(Generic[C]):
    best: C
    steps: list[Step[C]] = field(default_factory=list)
    exhausted: bool = False  # the budget ran out before the search ended
    stepped_back: int = 0  # smaller candidates that failed once but not again

    @property
    def runs(self) -> int:
        return sum(s.tries for s in self.steps)


def search(start: C, smaller: Callable[[C], Iterable[C]], fails: Callable[[C], bool], tries: int = 2,
           budget_s: float = float("inf"), on_step: Callable[[Step[C], C], object] = lambda step, best: None,
           clock: Callable[[], float] = time.monotonic) -> Shrunk[C]:
    """The smallest failing candidate the greedy search reaches from `start` (which failed)."""
    deadline = clock() + budget_s
    result = Shrunk(start)
    improved = True
    while improved and not result.exhausted:
        improved = False
        for candidate in smaller(result.best):
            if clock() >= deadline:
                result.exhausted = True
                break
            step = _try(candidate, fails, tries, deadline, clock)
            result.steps.append(step)
            if step.failed:
                result.best = candidate
            on_step(step, result.best)
            if step.failed:
                improved = True
                break  # start again from the new best: its own reductions come first
    _confirm(result, start, fails, tries, on_step)
    return result


def _confirm(result: Shrunk[C], start: C, fails, tries: int, on_step) -> None:
    """The best must fail again; if it does not, the one accepted before it is tried, back to
    `start` (which failed to begin with). Confirmation ignores the budget: it is the answer."""
    accepted = [start] + [s.candidate for s in result.steps if s.failed]
    while len(accepted) > 1:
        step = _try(accepted[-1], fails, tries, float("inf"), lambda: 0.0)
        result.steps.append(step)
        if step.failed:
            break
        accepted.pop()
        result.stepped_back += 1
        on_step(step, accepted[-1])
    result.best = accepted[-1]


def _try(candidate: C, fails: Callable[[C], bool], tries: int, deadline: float, clock) -> Step[C]:
    for attempt in range(1, tries + 1):
        if fails(candidate):
            return Step(candidate, True, attempt)
        if clock() >= deadline:
            return Step(candidate, False, attempt)
    return Step(candidate, False, tries)
