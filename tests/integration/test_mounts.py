"""The read-only log directory's mounts on a real process that writes all the while: the fault
must land however busy the directory is, and its heal must leave nothing on top."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest

from harness.mounts import _inside, bind_read_only, mounts_under, unbind_read_only
from tests.support import eventually

WRITER = """
import sys
directory = sys.argv[1]
while True:
    for i in range(8):
        try:
            with open(f"{directory}/f{i}", "w") as f:
                f.write("x")
        except OSError:
            pass
"""


@pytest.fixture
def writer(tmp_path):
    """A process in a mount namespace of its own (as `ip netns exec` gives a node) that opens
    files for writing in `data` without a pause."""
    data = tmp_path / "data"
    data.mkdir()
    process = subprocess.Popen(["unshare", "--mount", "--propagation", "slave", "--",
                                sys.executable, "-c", WRITER, str(data)])
    eventually(lambda: os.readlink(f"/proc/{process.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt"))
    eventually(lambda: (data / "f0").exists())
    yield process, str(data)
    process.kill()
    process.wait()


def writable(pid: int, directory: str) -> bool:
    return subprocess.run(_inside(pid, "touch", f"{directory}/probe"), capture_output=True).returncode == 0


def test_a_directory_written_through_all_the_while_is_made_read_only_and_back_every_time(writer):
    # Remounting a fresh bind in place failed with EBUSY whenever a file was opened for writing
    # through it between the two calls (a broker's checkpoint did so once in CI), and a plain
    # umount failed about once in 150 heals while a path was being looked up through the mount.
    process, data = writer
    for _ in range(50):
        bind_read_only(process.pid, data)
        assert not writable(process.pid, data)
        assert unbind_read_only(process.pid, data)
        assert writable(process.pid, data)
        assert mounts_under(process.pid, data) == []
    assert process.poll() is None
    assert glob.glob("/tmp/kafka-chaos-ro.*") == [], "a staging directory outlived its mount"
