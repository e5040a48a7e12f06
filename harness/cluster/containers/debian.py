"""A Debian root file system with a Java 17 runtime, for the image kafka-chaos builds when
apache/kafka cannot be pulled: debootstrap against the mirror this machine's apt already uses,
so no container image is pulled from anywhere.

    mirror()            the first Debian mirror and release in /etc/apt/sources.list(.d)
    rootfs(target)      debootstrap --variant=minbase --include=openjdk-17-jre-headless, trimmed
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import EnvironmentProblem

PACKAGES = ("openjdk-17-jre-headless",)  # Kafka 3.x needs Java 11+, 4.x Java 17+
TRIM = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info",
        "usr/share/locale")
MIRROR_ENV = "KAFKA_CHAOS_APT_MIRROR"  # "URI [SUITE]": another mirror than apt's own
BUILD_TIMEOUT_S = 1800


@dataclass(frozen=True)
class Mirror:
    uri: str
    suite: str

    def __str__(self) -> str:
        return f"{self.uri} {self.suite}"


@dataclass(frozen=True)
class Source:
    types: tuple[str, ...]
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]


def one_line_sources(text: str) -> list[Source]:
    """`deb [options] URI SUITE COMPONENT...` lines (sources.list and *.list)."""
    found = []
    for line in text.splitlines():
        line = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
        if len(line) >= 3:
            found.append(Source((line[0],), (line[1],), (line[2],), tuple(line[3:])))
    return found


def deb822_sources(text: str) -> list[Source]:
    """Stanzas of `Types:`, `URIs:`, `Suites:`, `Components:` fields (*.sources)."""
    found = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0].isspace() and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        parts = {k: tuple(fields.get(k, "").split()) for k in ("types", "uris", "suites", "components")}
        if all(parts[k] for k in ("types", "uris", "suites")):
            found.append(Source(parts["types"], parts["uris"], parts["suites"], parts["components"]))
    return found


def choose(sources: list[Source]) -> Mirror | None:
    """The first binary source of a Debian release's main component (not -updates or -security)."""
    for source in sources:
        if "deb" not in source.types or "main" not in source.components:
            continue
        for uri in source.uris:
            for suite in source.suites:
                if "/" not in suite and not re.search(r"-(updates|security|backports|proposed-updates)$", suite):
                    return Mirror(uri.rstrip("/"), suite)
    return None


def mirror(apt: Path = Path("/etc/apt"), env: dict[str, str] | None = None) -> Mirror:
    env = os.environ if env is None else env
    sources = []
    for path in [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*"))]:
        try:
            text = path.read_text()
        except OSError:
            continue
        sources += deb822_sources(text) if path.suffix == ".sources" else one_line_sources(text)
    chosen = choose(sources)
    if MIRROR_ENV in env:
        uri, *suite = env[MIRROR_ENV].split()
        return Mirror(uri, suite[0] if suite else (chosen.suite if chosen else "bookworm"))
    if chosen is None:
        raise EnvironmentProblem(f"no Debian mirror with a main component in {apt}/sources.list(.d): "
                                 f"set {MIRROR_ENV}='URI SUITE' to build the image")
    return chosen


def debootstrap_command(source: Mirror, target: Path) -> list[str]:
    return ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", "--components=main",
            source.suite, str(target), source.uri]


def rootfs(target: Path, source: Mirror, log: Path) -> None:
    """A trimmed minimal Debian with Java in `target` (debootstrap's output in `log`)."""
    if not shutil.which("debootstrap"):
        raise EnvironmentProblem("building the Kafka image needs debootstrap: apt-get install debootstrap")
    if os.geteuid() != 0:
        raise EnvironmentProblem("building the Kafka image needs root (debootstrap)")
    with open(log, "wb") as out:
        try:
            done = subprocess.run(debootstrap_command(source, target), stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise EnvironmentProblem(f"debootstrap from {source} took over {BUILD_TIMEOUT_S} s (log: {log})") from None
    if done.returncode != 0:
        raise EnvironmentProblem(f"debootstrap from {source} failed: {_last_error(log)} (log: {log})")
    for path in TRIM:
        shutil.rmtree(target / path, ignore_errors=True)
    if not (target / "usr/bin/java").exists():
        raise EnvironmentProblem(f"debootstrap from {source} left no usr/bin/java (log: {log})")


def _last_error(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("E:", "W:"))]
    return ((errors or lines or ["no output"])[-1]).strip()[:200]
