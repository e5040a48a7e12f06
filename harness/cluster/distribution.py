"""Obtaining a Kafka distribution: an unpacked release in KAFKA_HOME, or jars from Maven Central.

A distribution here is just a directory of jars (a classpath) plus the Java that runs it.
Maven downloads go to a per-version cache; once a version's cache is complete it is used
without running Maven, so a second call needs neither `mvn` nor the network.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import paths
from harness.errors import EnvironmentProblem, UsageError

DEFAULT_VERSION = "4.4.0"  # newest 4.x seen to resolve on Maven Central
VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_CORE_JAR_RE = re.compile(r"^kafka_2\.1[23]-(\d+\.\d+\.\d+)\.jar$")
_COMPLETE = "COMPLETE"

# slf4j binding shipped with the official release of each major line.
_LOGGING_BINDING = {
    3: ("org.slf4j", "slf4j-reload4j", "1.7.36"),
    4: ("org.apache.logging.log4j", "log4j-slf4j-impl", "2.24.3"),
}
_JAVA_NEEDED = {3: 11, 4: 17}

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>kafka-chaos</groupId>
  <artifactId>kafka-distribution</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
{dependencies}
  </dependencies>
</project>
"""
_DEPENDENCY = (
    "    <dependency><groupId>{0}</groupId><artifactId>{1}</artifactId>"
    "<version>{2}</version></dependency>"
)


@dataclass(frozen=True)
class KafkaDistribution:
    version: str
    libs: Path
    java: Path
    source: str  # "KAFKA_HOME" or "maven"

    @property
    def major(self) -> int:
        return parse_version(self.version)[0]

    @property
    def classpath(self) -> str:
        return f"{self.libs}/*"

    @property
    def logging(self) -> str:
        """Which logging backend the jars carry: 'log4j2' (4.x) or 'log4j' (3.x, reload4j)."""
        return "log4j2" if self.major >= 4 else "log4j"

    def java_command(self, main: str, *args: str, jvm_options: tuple[str, ...] = ()) -> list[str]:
        return [str(self.java), *jvm_options, "-cp", self.classpath, main, *args]


def parse_version(version: str) -> tuple[int, int, int]:
    match = VERSION_RE.match(version)
    if not match:
        raise UsageError(f"Kafka version {version!r} is not of the form MAJOR.MINOR.PATCH (e.g. 4.4.0)")
    major, minor, patch = (int(part) for part in match.groups())
    if major not in _LOGGING_BINDING:
        supported = ", ".join(f"{m}.x" for m in _LOGGING_BINDING)
        raise UsageError(f"Kafka version {version}: only {supported} (KRaft) are supported")
    return major, minor, patch


def obtain(version: str | None = None, env: dict[str, str] | None = None) -> KafkaDistribution:
    """The distribution for `version` (default: KAFKA_HOME's, else DEFAULT_VERSION)."""
    env = os.environ if env is None else env
    version, libs, source = kafka_libs(version, env)
    return _with_java(version, libs, source, env)


def resolve_version(version: str | None = None, env: dict[str, str] | None = None) -> str:
    """The version `obtain` would give, without fetching anything: KAFKA_HOME's, else DEFAULT_VERSION."""
    env = os.environ if env is None else env
    if version is None and env.get("KAFKA_HOME"):
        return kafka_home_version(Path(env["KAFKA_HOME"]))
    version = version or DEFAULT_VERSION
    parse_version(version)
    return version


def kafka_libs(version: str | None = None, env: dict[str, str] | None = None) -> tuple[str, Path, str]:
    """(version, jars folder, source) of a Kafka distribution, without Java: KAFKA_HOME's when it
    is that version, else the Maven cache (resolved the first time)."""
    env = os.environ if env is None else env
    home = env.get("KAFKA_HOME")
    if home:
        home_version = kafka_home_version(Path(home))
        if version is None or version == home_version:
            return home_version, Path(home) / "libs", "KAFKA_HOME"
    version = resolve_version(version, {})
    return version, maven_libs(version, env), "maven"


def kafka_home_version(home: Path) -> str:
    libs = home / "libs"
    if not libs.is_dir():
        raise EnvironmentProblem(f"KAFKA_HOME={home} has no libs/ folder: point it at an unpacked Apache Kafka release")
    versions = {m.group(1) for p in libs.iterdir() if (m := _CORE_JAR_RE.match(p.name))}
    if len(versions) != 1:
        raise EnvironmentProblem(f"KAFKA_HOME={home}: cannot tell the Kafka version from libs/ (no single kafka_2.13-X.jar)")
    return versions.pop()


def cached_libs(version: str, artifact: str = "kafka_2.13") -> Path:
    folder = "kafka" if artifact == "kafka_2.13" else artifact
    return paths.cache_dir() / folder / version / "libs"


def maven_libs(version: str, env: dict[str, str] | None = None, artifact: str = "kafka_2.13") -> Path:
    """Jars of org.apache.kafka:`artifact`:`version` (with its runtime dependencies and the
    logging binding) from the cache, resolving them with Maven the first time."""
    env = os.environ if env is None else env
    libs = cached_libs(version, artifact)
    if (libs / _COMPLETE).exists():
        return libs
    libs.parent.mkdir(parents=True, exist_ok=True)
    with open(libs.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be resolving the same version
        if not (libs / _COMPLETE).exists():
            _resolve_with_maven(version, artifact, libs, env)
    return libs


def pom_xml(version: str, artifact: str = "kafka_2.13") -> str:
    major = parse_version(version)[0]
    deps = [("org.apache.kafka", artifact, version), _LOGGING_BINDING[major]]
    return _POM.format(version=version, dependencies="\n".join(_DEPENDENCY.format(*d) for d in deps))


def _resolve_with_maven(version: str, artifact: str, libs: Path, env: dict[str, str]) -> None:
    mvn = shutil.which("mvn", path=env.get("PATH"))
    if not mvn:
        raise EnvironmentProblem(
            f"Kafka {version} is not cached and Maven (mvn) is not on PATH: "
            "install Maven (apt-get install maven) or set KAFKA_HOME to an unpacked Kafka release"
        )
    with tempfile.TemporaryDirectory(dir=libs.parent) as work:
        pom = Path(work) / "pom.xml"
        pom.write_text(pom_xml(version, artifact))
        out = Path(work) / "libs"
        result = subprocess.run(
            [mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
             f"-DoutputDirectory={out}", "-DincludeScope=runtime"],
            capture_output=True, text=True, env=dict(env),
        )
        if result.returncode != 0:
            raise _maven_failure(version, artifact, result.stdout + result.stderr)
        (out / _COMPLETE).write_text("\n".join(sorted(p.name for p in out.iterdir())) + "\n")
        shutil.rmtree(libs, ignore_errors=True)
        out.rename(libs)


def _maven_failure(version: str, artifact: str, output: str) -> Exception:
    if f"Could not find artifact org.apache.kafka:{artifact}" in output:
        return UsageError(f"Kafka version {version} does not exist on Maven Central (org.apache.kafka:{artifact})")
    errors = [line.removeprefix("[ERROR]").strip() for line in output.splitlines() if line.startswith("[ERROR]")]
    detail = next((e for e in errors if e), "mvn failed without an error line")
    return EnvironmentProblem(
        f"could not download Kafka {version} from Maven Central ({detail[:300]}); "
        "check the network or set KAFKA_HOME to an unpacked Kafka release"
    )


def _with_java(version: str, libs: Path, source: str, env: dict[str, str]) -> KafkaDistribution:
    needed = _JAVA_NEEDED[parse_version(version)[0]]
    java = find_java(needed, env)
    return KafkaDistribution(version=version, libs=libs, java=java, source=source)


def find_java(min_major: int, env: dict[str, str] | None = None) -> Path:
    """JAVA_HOME's java, else the one on PATH, checked to be at least `min_major`."""
    env = os.environ if env is None else env
    java_home = env.get("JAVA_HOME")
    java = Path(java_home) / "bin" / "java" if java_home else None
    if java is None or not java.exists():
        found = shutil.which("java", path=env.get("PATH"))
        java = Path(found) if found else None
    if java is None:
        raise EnvironmentProblem(
            f"Java {min_major}+ is needed and no java was found: install a JDK "
            f"(apt-get install openjdk-{min_major}-jre-headless) or set JAVA_HOME"
        )
    major = java_major(java)
    if major < min_major:
        raise EnvironmentProblem(f"{java} is Java {major}; Kafka needs Java {min_major}+: set JAVA_HOME to a newer JDK")
    return java


def java_major(java: Path) -> int:
    out = subprocess.run([str(java), "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        raise EnvironmentProblem(f"cannot tell the version of {java} from `java -version`")
    first, second = int(match.group(1)), int(match.group(2) or 0)
    return second if first == 1 else first  # "1.8.0" style means Java 8
