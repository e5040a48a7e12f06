"""Property tests: random clean histories have no anomaly; one injected anomaly is found, alone."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checker.check import check
from harness.checker.model import AnomalyKind
from tests.histories import INJECT, simulate

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reported(run) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as directory:
        result = check(run.write(Path(directory)))
    assert not result.errors, result.errors
    return {i.kind.value: i.count for i in result.invariants if i.count}


def test_every_kind_has_an_injection():
    assert set(INJECT) == {k.value for k in AnomalyKind}


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
def test_clean_histories_have_no_anomaly(seed):
    run = simulate(random.Random(seed))
    run.final_reads()
    assert reported(run) == {}


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(sorted(INJECT)))
def test_one_injected_anomaly_is_found_alone(seed, kind):
    rng = random.Random(seed)
    run = simulate(rng)
    INJECT[kind](run, rng)
    assert reported(run) == {kind: 1}
