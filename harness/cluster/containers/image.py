"""The image docker nodes run: apache/kafka:<version> when the engine has it (or, when asked to
pull, can pull it); otherwise kafka-chaos/kafka:<version>, built on this machine without pulling
anything and reused once built.

    resolve("4.4.0")             # apache/kafka:4.4.0 if here, else kafka-chaos/kafka:4.4.0
    resolve("4.4.0", pull=True)  # the same, trying the registry first (one line says if it fails)
    build("4.4.0")     # `kafka-chaos image build`: the local image, built only if missing

The local image is two layers: kafka-chaos/base:<release>-java17, a Debian root file system
from debootstrap (harness.cluster.containers.debian), imported once; and Kafka's jars from the
distribution the harness caches (KAFKA_HOME or Maven), with apache/kafka's layout and entry point.
Either image works for the backend: it needs only /opt/kafka/libs and java on PATH.
"""

from __future__ import annotations

import fcntl
import io
import logging
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from harness import paths
from harness.cluster.containers import debian
from harness.cluster.containers.engine import client, notice
from harness.cluster.distribution import kafka_libs, parse_version, resolve_version
from harness.cluster.layout import logging_config
from harness.errors import EnvironmentProblem

log = logging.getLogger(__name__)

OFFICIAL = "apache/kafka"
LOCAL = "kafka-chaos/kafka"
BASE = "kafka-chaos/base"
RECIPE = "1"  # what the local images hold; a build of another recipe is built again
RECIPE_LABEL = "kafka-chaos.recipe"
BASE_LABEL = "kafka-chaos.base"
SCRIPTS = ("kafka-run-class.sh", "kafka-server-start.sh", "kafka-storage.sh")
_unpullable: dict[str, str] = {}  # image -> why it could not be pulled (asked once per process)


def official(version: str) -> str:
    return f"{OFFICIAL}:{version}"


def local(version: str) -> str:
    return f"{LOCAL}:{version}"


def resolve(version: str | None, wanted: str | None = None, pull: bool = False) -> str:
    """The image to run Kafka `version` in: `wanted` if given, else apache/kafka, else the local
    build. The registry is asked only when `pull`: a run reaches no network it was not told to."""
    version = resolve_version(version)
    if wanted:
        reason = _present_or_pulled(wanted, pull)
        if reason:
            raise EnvironmentProblem(f"image {wanted} is not here ({reason})")
        return wanted
    reason = _present_or_pulled(official(version), pull)
    if reason is None:
        return official(version)
    built = cached(version)
    if pull or not built:
        notice(f"{official(version)} is not here ({reason}); using {local(version)}, built here"
               + ("" if built else " now (a minute or more the first time)"))
    return built or build(version)


def _present_or_pulled(image: str, pull: bool) -> str | None:
    """None when `image` is here (pulled first if `pull`), else why it is not."""
    from docker.errors import DockerException, ImageNotFound

    engine = client()
    try:
        engine.images.get(image)
        return None
    except ImageNotFound:
        if not pull:
            return "not pulled: set cluster.docker.pull to fetch it"
    if image in _unpullable:
        return _unpullable[image]
    repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "latest")
    try:
        engine.images.pull(repository, tag=tag)
        return None
    except DockerException as exc:
        _unpullable[image] = _reason(exc)
        return _unpullable[image]


def _reason(exc: Exception) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return " ".join(str(text).split())[:160]


def cached(version: str) -> str | None:
    """The local image of `version` when it is built (by this recipe, on today's base)."""
    return local(version) if _has(local(version), base_image()) else None


def base_image() -> str:
    """The base the local image is built on: the release of this machine's Debian mirror."""
    return f"{BASE}:{debian.mirror().suite}-java17"


def _has(image: str, base: str | None = None) -> bool:
    from docker.errors import ImageNotFound

    try:
        found = client().images.get(image).labels
    except ImageNotFound:
        return False
    return found.get(RECIPE_LABEL) == RECIPE and (base is None or found.get(BASE_LABEL) == base)


def build(version: str | None = None, progress: Callable[[str], None] = notice) -> str:
    """kafka-chaos/kafka:<version>, built unless it already is; the image's name."""
    version = resolve_version(version)
    parse_version(version)
    image = local(version)
    folder = paths.cache_dir() / "image"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another harness may be building the same image
        if _has(image, base_image()):
            return image
        _, libs, source = kafka_libs(version)
        base = _base(folder, progress)
        progress(f"building {image} from {base} and Kafka {version}'s jars ({source})")
        _build_kafka(image, base, version, libs)
    return image


def _base(folder: Path, progress: Callable[[str], None]) -> str:
    """kafka-chaos/base:<release>-java17: debootstrap's root file system, imported once."""
    source, base = debian.mirror(), base_image()
    if _has(base):
        return base
    progress(f"building {base}: debootstrap from {source} (a few minutes)")
    with tempfile.TemporaryDirectory(dir=folder, prefix="rootfs-") as work:
        root, archive = Path(work) / "root", Path(work) / "rootfs.tar"
        root.mkdir()
        debian.rootfs(root, source, folder / "debootstrap.log")
        _tar(root, archive)
        shutil.rmtree(root)
        _import(archive, base)
    return base


def _tar(root: Path, archive: Path) -> None:
    done = subprocess.run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(archive), "."],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise EnvironmentProblem(f"packing the root file system failed: {done.stderr.strip()[-200:]}")


def _import(archive: Path, image: str) -> None:
    from docker.errors import DockerException

    repository, tag = image.split(":")
    changes = ["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               f"LABEL {RECIPE_LABEL}={RECIPE}", 'CMD ["/bin/bash"]']
    try:
        client().api.import_image(src=str(archive), repository=repository, tag=tag, changes=changes)
    except DockerException as exc:
        raise EnvironmentProblem(f"importing {image} into Docker failed: {_reason(exc)}") from None
    if not _has(image):
        raise EnvironmentProblem(f"importing {image} into Docker left no image")


def context(base: str, version: str, libs: Path) -> bytes:
    """The build context of the Kafka layer: Dockerfile, jars, scripts, entry point, logging config."""
    name, contents, jvm_property = logging_config("log4j2" if parse_version(version)[0] >= 4 else "log4j")
    files = resources.files("harness.cluster.containers") / "files"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _add(tar, "Dockerfile", (files / "Dockerfile").read_text().replace("@BASE@", base).encode())
        for jar in sorted(libs.glob("*.jar")):
            tar.add(jar, f"libs/{jar.name}")
        for script in SCRIPTS:
            text = (files / script).read_text().replace("@LOG4J_OPTS@", f"{jvm_property}/etc/kafka/docker/{name}")
            _add(tar, f"bin/{script}", text.encode(), 0o755)
        _add(tar, "docker/run", (files / "run").read_bytes(), 0o755)
        _add(tar, f"docker/{name}", contents.encode())
    return buffer.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _build_kafka(image: str, base: str, version: str, libs: Path) -> None:
    from docker.errors import BuildError, DockerException

    labels = {RECIPE_LABEL: RECIPE, BASE_LABEL: base, "org.opencontainers.image.version": version,
              "org.opencontainers.image.title": "kafka", "org.opencontainers.image.description":
              "Apache Kafka for kafka-chaos, built without pulling any image"}
    try:
        client().images.build(fileobj=io.BytesIO(context(base, version, libs)), custom_context=True, tag=image,
                              pull=False, rm=True, forcerm=True, labels=labels)
    except BuildError as exc:
        raise EnvironmentProblem(f"building {image} failed: {_reason(exc)}") from None
    except DockerException as exc:
        raise EnvironmentProblem(f"building {image} failed: {_reason(exc)}") from None
