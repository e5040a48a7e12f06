"""Toxiproxy for degraded networks: the server (from PATH, or built with `go install` into the
cache) and its proxies and toxics, driven with toxiproxy-python."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed
from toxiproxy import Toxiproxy as Client

from harness import paths
from harness.errors import EnvironmentProblem
from harness.process import ProcessRef

VERSION = "v2.12.0"
MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server"
BINARY = "toxiproxy-server"


def binary() -> Path:
    """toxiproxy-server from PATH, else built from the Go module proxy into the cache once."""
    found = shutil.which(BINARY)
    if found:
        return Path(found)
    built = cached_binary()
    if built.exists():
        return built
    go = shutil.which("go")
    if not go:
        raise EnvironmentProblem(f"{BINARY} is not on PATH and Go is not installed to build it "
                                 f"(go install {MODULE}@{VERSION})")
    built.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=built.parent) as gobin:
        result = subprocess.run([go, "install", f"{MODULE}@{VERSION}"], capture_output=True, text=True,
                                env={**os.environ, "GOBIN": gobin}, timeout=900)
        if result.returncode != 0:
            raise EnvironmentProblem(f"building toxiproxy failed: {result.stderr.strip().splitlines()[-1:]}")
        os.replace(Path(gobin) / "server", built)
    return built


def cached_binary() -> Path:
    return paths.cache_dir() / "bin" / f"{BINARY}-{VERSION}"


class Toxiproxy:
    """One toxiproxy server on 127.0.0.1:`port`, its proxies named after what they carry."""

    def __init__(self, port: int):
        self.port = port
        self.process: ProcessRef | None = None
        self._client = Client()

    def start(self, log: Path, group: int | None = None) -> ProcessRef:
        """`group`: run as this group, so iptables' owner match can tell its connections apart."""
        with open(log, "ab") as out:
            popen = subprocess.Popen([str(binary()), "-host", "127.0.0.1", "-port", str(self.port)],
                                     stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, group=group, extra_groups=[] if group else None)
        self.process = ProcessRef.of(popen)
        self.connect()
        waiting = Retrying(stop=stop_after_delay(30), wait=wait_fixed(0.1), retry=retry_if_result(lambda up: not up))
        if not waiting(self._up):
            raise EnvironmentProblem(f"toxiproxy did not start on port {self.port} (log: {log})")
        return self.process

    def _up(self) -> bool:
        if self.process and not self.process.alive:
            raise EnvironmentProblem(f"toxiproxy exited at start (port {self.port} taken?)")
        return self._client.running()

    def connect(self) -> None:
        self._client.update_api_consumer("127.0.0.1", self.port)  # toxiproxy-python keeps it globally

    def stop(self) -> None:
        if self.process:
            self.process.terminate(5)

    def add_proxy(self, name: str, listen: str, upstream: str) -> None:
        self.connect()
        existing = self._client.get_proxy(name)
        if existing:
            existing.destroy()
        self._client.create(upstream=upstream, name=name, listen=listen)

    def add_toxic(self, proxy: str, toxic: str, kind: str, attributes: dict, stream: str) -> None:
        self.connect()
        self._client.get_proxy(proxy).add_toxic(name=toxic, type=kind, attributes=attributes, stream=stream)

    def remove_toxic(self, proxy: str, toxic: str) -> bool:
        self.connect()
        found = self._client.get_proxy(proxy)
        return bool(found and found.destroy_toxic(toxic))

    def toxics(self) -> dict[str, list[str]]:
        """Every toxic in place, per proxy."""
        self.connect()
        return {name: sorted(p.toxics()) for name, p in self._client.proxies().items()}

    def clear(self) -> list[str]:
        """Remove every toxic, if the server runs; what was removed."""
        if not (self.process and self.process.alive):
            return []
        removed = []
        for proxy, toxics in self.toxics().items():
            for toxic in toxics:
                self.remove_toxic(proxy, toxic)
                removed.append(f"toxic {toxic} on {proxy}")
        return removed
