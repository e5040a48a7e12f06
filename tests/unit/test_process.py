"""Finding the daemons a harness left, by the name on their command line (no cluster needed)."""

import subprocess
import sys

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
