"""The Docker engine the docker backend drives: connecting to it (one line when it cannot), the
labels that mark what kafka-chaos made, and whether the engine runs on this machine, where the
harness can enter containers' namespaces, mount, and reach their addresses."""

from __future__ import annotations

import os
import shutil
import sys
from functools import cache
from typing import TYPE_CHECKING

from harness.errors import EnvironmentProblem

if TYPE_CHECKING:
    import docker

CLUSTER_LABEL = "kafka-chaos.cluster"  # on every container, network and volume a cluster makes
NODE_LABEL = "kafka-chaos.node"
ROLE_LABEL = "kafka-chaos.role"  # kafka (a node) or net (the process holding its network namespace)
PREFIX = "kafka-chaos-"
SOCKET = "/var/run/docker.sock"
TIMEOUT_S = 120


def labels(cluster: str, **more: str) -> dict[str, str]:
    return {CLUSTER_LABEL: cluster, **{f"kafka-chaos.{k}": str(v) for k, v in more.items()}}


def label_filter(cluster: str | None) -> dict[str, str]:
    """Whatever cluster `cluster` made (or any kafka-chaos cluster): never an unlabelled object."""
    return {"label": f"{CLUSTER_LABEL}={cluster}" if cluster else CLUSTER_LABEL}


def is_local() -> bool:
    """The engine runs on this machine (a unix socket), so its containers' processes are ours to see."""
    host = os.environ.get("DOCKER_HOST", "")
    return not host or host.startswith("unix://")


def local_control() -> bool:
    """This process may enter containers' namespaces and mount: the engine is here, we are root,
    and nsenter and iptables are installed. Network and disk faults need it."""
    return is_local() and os.geteuid() == 0 and bool(shutil.which("nsenter")) and bool(shutil.which("iptables"))


@cache
def client() -> "docker.DockerClient":
    """The engine, or one line saying why there is none (exit 3)."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        raise EnvironmentProblem("the docker Python package is missing: pip install docker") from None
    try:
        engine = docker.from_env(timeout=TIMEOUT_S)
        engine.ping()
        return engine
    except DockerException as exc:
        raise EnvironmentProblem(unreachable(exc)) from None


def unreachable(exc: Exception) -> str:
    host = os.environ.get("DOCKER_HOST") or f"unix://{SOCKET}"
    if is_local() and not os.path.exists(host.removeprefix("unix://")):
        if not shutil.which("dockerd"):
            return "Docker is not installed (no dockerd): apt-get install docker.io, then start dockerd"
        return f"the Docker daemon is not running (no {host.removeprefix('unix://')}): start dockerd"
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"the Docker daemon at {host} is not reachable: {reason[:200]}"


def notice(text: str) -> None:
    """One line for the person running kafka-chaos, whatever the log level."""
    print(f"kafka-chaos: {text}", file=sys.stderr, flush=True)
