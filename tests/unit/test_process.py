"""Processes a harness leaves: daemons found by the name on their command line, and helpers that
stop by themselves when their harness dies (no cluster needed)."""

import subprocess
import sys

import psutil
import pytest

from harness.process import named_daemons

IDLE = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def daemons():
    started = []

    def start(*args: str) -> int:
        started.append(subprocess.Popen([*IDLE, *args]))
        return started[-1].pid

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def test_daemons_are_found_by_module_and_cluster_name(daemons):
    ours = daemons("harness.lazyfs", "--name", "kc-test-lazy-a")
    other_cluster = daemons("harness.lazyfs", "--name", "kc-test-lazy-b")
    other_module = daemons("harness.kafkaproxy", "--name", "kc-test-lazy-a")
    daemons("harness.lazyfs", "--name")  # a name flag with nothing after it is not a match

    def pids(cluster):
        return {p.pid for p in named_daemons("harness.lazyfs", "kc-test-lazy-", cluster)}

    assert pids("a") == {ours}
    assert pids(None) == {ours, other_cluster}
    assert other_module not in pids(None)


def test_an_observer_whose_harness_dies_while_it_starts_stops_by_itself(tmp_path):
    """The harness is gone before the observer has finished importing (a SIGKILL right after the
    start): the observer must not take init for its harness and sample for ever. No cluster is
    needed: each failed look is a warning, and the loop asks whether to stop between looks."""
    harness = (f"import os; from harness.observe.observer import ObserverProcess\n"
               f"p = ObserverProcess('local', 'kc-test-nocluster', {str(tmp_path)!r}, [], {{}}).__enter__()\n"
               f"print(p.process.pid, flush=True); os._exit(0)")
    observer = psutil.Process(int(subprocess.run([sys.executable, "-c", harness], capture_output=True, text=True,
                                                  check=True, timeout=60).stdout))
    try:
        observer.wait(60)  # gone (init reaps it)
    except psutil.TimeoutExpired:
        observer.kill()
        raise AssertionError("the orphaned observer was still sampling 60 s after its harness died") from None
