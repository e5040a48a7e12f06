"""Finding Kafka: versions, KAFKA_HOME, the Maven cache (no network: a cache hit needs none)."""

import os
import shutil
from pathlib import Path

import pytest

from harness.cluster import distribution
from harness.cluster.distribution import obtain, parse_version, pom_xml
from harness.errors import EnvironmentProblem, UsageError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KAFKA_CHAOS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def java_only_env(tmp_path):
    """An environment whose PATH holds java and nothing else: no mvn, so no download."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(shutil.which("java"))
    return {"PATH": str(bin_dir)}


def fake_release(root: Path, version: str) -> Path:
    (root / "libs").mkdir(parents=True)
    for jar in (f"kafka_2.13-{version}.jar", f"kafka-clients-{version}.jar", f"kafka_2.13-{version}-test.jar"):
        (root / "libs" / jar).write_text("")
    return root


@pytest.mark.parametrize("bad", ["4", "4.4", "v4.4.0", "4.4.0-SNAPSHOT", "4.4.0</version>"])
def test_malformed_versions_are_usage_errors(bad):
    with pytest.raises(UsageError, match="MAJOR.MINOR.PATCH"):
        parse_version(bad)


def test_zookeeper_era_versions_are_refused():
    with pytest.raises(UsageError, match="only 3.x, 4.x"):
        parse_version("2.8.2")


def test_pom_carries_the_logging_binding_of_each_major_line():
    assert "log4j-slf4j-impl" in pom_xml("4.4.0") and "reload4j" not in pom_xml("4.4.0")
    assert "slf4j-reload4j" in pom_xml("3.9.1") and "log4j-slf4j-impl" not in pom_xml("3.9.1")
    assert "<version>3.9.1</version></dependency>" in pom_xml("3.9.1")


def test_complete_cache_is_used_without_maven(cache, java_only_env):
    libs = cache / "kafka" / "4.4.0" / "libs"
    libs.mkdir(parents=True)
    (libs / "COMPLETE").write_text("kafka_2.13-4.4.0.jar\n")
    dist = obtain("4.4.0", env=java_only_env)
    assert dist.libs == libs and dist.source == "maven" and dist.logging == "log4j2"


def test_missing_cache_without_maven_says_what_to_do(cache, java_only_env):
    with pytest.raises(EnvironmentProblem, match=r"Maven \(mvn\) is not on PATH.*KAFKA_HOME"):
        obtain("4.4.0", env=java_only_env)


def test_kafka_home_is_used_for_its_own_version(tmp_path, java_only_env):
    home = fake_release(tmp_path / "kafka", "3.9.1")
    dist = obtain(env={**java_only_env, "KAFKA_HOME": str(home)})
    assert (dist.version, dist.libs, dist.source, dist.logging) == ("3.9.1", home / "libs", "KAFKA_HOME", "log4j")


def test_another_version_than_kafka_home_comes_from_the_cache(tmp_path, cache, java_only_env):
    home = fake_release(tmp_path / "kafka", "3.9.1")
    libs = cache / "kafka" / "4.4.0" / "libs"
    libs.mkdir(parents=True)
    (libs / "COMPLETE").write_text("")
    dist = obtain("4.4.0", env={**java_only_env, "KAFKA_HOME": str(home)})
    assert dist.libs == libs


def test_kafka_home_without_libs_is_an_environment_problem(tmp_path, java_only_env):
    with pytest.raises(EnvironmentProblem, match="no libs/ folder"):
        obtain(env={**java_only_env, "KAFKA_HOME": str(tmp_path)})


def test_missing_java_is_named(tmp_path, cache):
    libs = cache / "kafka" / "4.4.0" / "libs"
    libs.mkdir(parents=True)
    (libs / "COMPLETE").write_text("")
    with pytest.raises(EnvironmentProblem, match="Java 17\\+ is needed"):
        obtain("4.4.0", env={"PATH": str(tmp_path)})


def test_old_java_is_refused_for_kafka_4(tmp_path, monkeypatch):
    monkeypatch.setattr(distribution, "java_major", lambda java: 11)
    with pytest.raises(EnvironmentProblem, match="is Java 11; Kafka needs Java 17"):
        distribution.find_java(17, {"PATH": os.path.dirname(shutil.which("java"))})


def test_real_java_version_is_read():
    assert distribution.java_major(Path(shutil.which("java"))) >= 17
