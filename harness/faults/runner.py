"""Running a fault plan against a live cluster: inject and heal on time, record every step in
the event log, and heal whatever is still active, in reverse order, on every way out."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import replace

from harness.faults.base import Env, FaultError, Injected
from harness.faults.schedule import Planned

log = logging.getLogger(__name__)
WATCH_EVERY_S = 0.2


class FaultRunner:
    def __init__(self, env: Env, planned: list[Planned], seed: int = 0, watch=lambda: None):
        """`watch` runs while the runner waits for the next step, and may raise to end the run."""
        self.env, self.planned, self.seed, self.watch = env, planned, seed, watch
        self.active: list[tuple[Planned, Injected]] = []

    def __enter__(self) -> "FaultRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.heal_all()

    def run(self) -> None:
        """Blocks for the plan's length (its last heal)."""
        start = time.monotonic()
        actions = sorted([(p.start, 1, p) for p in self.planned] + [(p.end, 0, p) for p in self.planned],
                         key=lambda a: (a[0], a[1], a[2].index))  # heals before injects at the same moment
        for at, is_inject, planned in actions:
            while (delay := start + at - time.monotonic()) > 0:
                self.watch()
                time.sleep(min(delay, WATCH_EVERY_S))  # the schedule's own timeline, not a wait for a condition
            scheduled = int((start + at) * 1e9)
            if is_inject:
                self.inject(planned, scheduled)
            else:
                self.heal(planned, scheduled)

    def inject(self, planned: Planned, scheduled_mono: int | None = None) -> Injected | None:
        fault = planned.fault
        # Each fault draws its random choices from its own generator: the same seed and index pick
        # the same nodes, whatever the other faults of the plan do (replay, shrinking).
        env = replace(self.env, rng=random.Random(f"{self.seed}:{planned.index}"))
        try:
            injected = fault.inject(env)
        except FaultError as exc:
            self.env.events.record("fault", "not-applied", f"{fault.name}: {exc}", fault=fault.name,
                                   index=planned.index)
            return None
        self.active.append((planned, injected))
        # at_s: the planned second in the fault phase; lag_ms: from that moment to the fault in effect
        lag = round((time.monotonic_ns() - scheduled_mono) / 1e6, 1) if scheduled_mono else None
        self.env.events.record("fault", "inject", injected.text, fault=fault.name, index=planned.index,
                               targets=injected.targets, applied=injected.applied, at_s=planned.start,
                               scheduled_mono=scheduled_mono, lag_ms=lag)
        return injected

    def heal(self, planned: Planned, scheduled_mono: int | None = None) -> None:
        for i, (p, injected) in enumerate(self.active):
            if p is planned:
                del self.active[i]
                self._heal(p, injected, scheduled_mono)
                return

    def heal_all(self) -> None:
        """Heal every active fault, newest first; one failing heal does not stop the others."""
        while self.active:
            planned, injected = self.active.pop()
            self._heal(planned, injected, None)

    def _heal(self, planned: Planned, injected: Injected, scheduled_mono: int | None) -> None:
        try:
            done = injected.heal()
            self.env.events.record("fault", "heal", f"healed {planned.fault.name}: {done}", fault=planned.fault.name,
                                   index=planned.index, scheduled_mono=scheduled_mono)
        except Exception as exc:  # noqa: BLE001  (keep healing the rest)
            log.exception("healing %s failed", planned.fault.name)
            self.env.events.record("fault", "heal-failed", f"healing {planned.fault.name} failed: {exc!r}",
                                   fault=planned.fault.name, index=planned.index)
