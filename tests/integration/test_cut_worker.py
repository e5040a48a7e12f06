"""Cutting one process off the network with real iptables rules and a real cgroup (no Kafka
needed: a TCP echo server and a client process on loopback): its open connection and any new one
go silent while the server still serves everyone else; the heal gives it back its connection and
the cgroup it came from; the sweep removes the rules and the cgroup a dead harness left, and puts
the process in the root cgroup."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
from types import SimpleNamespace

import pytest

from harness.faults.cut_worker import PREFIX, cgroup2_root, cgroup_of, cut_process, leftovers, move
from harness.net import iptables
from tests.support import eventually

pytestmark = pytest.mark.skipif(cgroup2_root() is None or os.geteuid() != 0,
                                reason="needs root and a cgroup v2 hierarchy")
CLUSTER = "mmcut"

CLIENT = textwrap.dedent("""
    import socket, sys
    port = int(sys.argv[1])
    kept = socket.create_connection(("127.0.0.1", port))
    for line in sys.stdin:
        conn = kept if line.strip() == "kept" else None
        try:
            conn = conn or socket.create_connection(("127.0.0.1", port), timeout=1)
            conn.settimeout(1)
            conn.sendall(b"ping")
            answer = conn.recv(4) == b"ping"
        except OSError:
            answer = False
        if conn is not kept and conn is not None:
            conn.close()
        print("ok" if answer else "silent", flush=True)
""")


@pytest.fixture
def echo():
    server = socket.create_server(("127.0.0.1", 0))

    def serve(conn):
        with conn:
            try:
                while data := conn.recv(64):
                    conn.sendall(data)
            except OSError:
                pass  # the client was killed

    def accept():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def ask(client: subprocess.Popen, what: str) -> str:
    client.stdin.write(what + "\n")
    client.stdin.flush()
    return client.stdout.readline().strip()


@pytest.fixture
def home():
    """A cgroup of the test's own for the client to start in, as a systemd session's would be."""
    group = cgroup2_root() / f"kc-test-home-{os.getpid()}"
    group.mkdir()
    yield group
    for pid in (group / "cgroup.procs").read_text().split():
        move(int(pid), cgroup2_root())
    group.rmdir()


def test_a_cut_process_is_silent_on_its_open_and_new_connections_until_healed_and_the_sweep_cleans_up(echo, home):
    client = subprocess.Popen([sys.executable, "-c", CLIENT, str(echo)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert ask(client, "kept") == "ok" and ask(client, "new") == "ok"
        move(client.pid, home)
        root = cgroup2_root()
        before = cgroup_of(client.pid, root)
        assert before == home
        applied, heal = cut_process(client.pid, CLUSTER, "cut-worker")
        cut = cgroup_of(client.pid, root)
        assert cut.parent == root and cut.name.startswith(f"{PREFIX}{CLUSTER}-") and len(applied) >= 3
        assert ask(client, "kept") == "silent" and ask(client, "new") == "silent"
        with socket.create_connection(("127.0.0.1", echo), timeout=1) as other:  # everyone else is served
            other.sendall(b"ping")
            assert other.recv(4) == b"ping"
        assert heal().startswith("removed")
        assert cgroup_of(client.pid, root) == before
        assert all(f"{CLUSTER}:" not in rule for rule in iptables.tagged(None))
        eventually(lambda: ask(client, "kept") == "ok", 30)  # TCP retransmits what was dropped
        assert ask(client, "new") == "ok"

        cut_process(client.pid, CLUSTER, "cut-worker")  # and the harness dies holding the cut
        swept = leftovers(SimpleNamespace(name=CLUSTER))
        assert any("cgroup" in s for s in swept) and any("DROP" in s for s in swept)
        assert cgroup_of(client.pid, root) == root, "where it came from died with the harness"
        assert all(f"{CLUSTER}:" not in rule for rule in iptables.tagged(None))
        assert not list(cgroup2_root().glob(f"{PREFIX}{CLUSTER}-*"))
        eventually(lambda: ask(client, "new") == "ok", 10)
    finally:
        client.kill()
        client.wait()
        leftovers(SimpleNamespace(name=CLUSTER))
