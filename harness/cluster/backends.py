"""The backends an experiment can name, what each offers, and how to make one: known without
starting anything (or importing a backend's clients), so `validate` stays fast."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cluster.backend import Capability
from harness.cluster.containers.engine import local_control
from harness.cluster.spec import ClusterSpec, NetworkMode
from harness.net.lab import has_net_admin

if TYPE_CHECKING:
    from harness.cluster.backend import Backend
    from harness.cluster.containers.spec import DockerSpec


class BackendName(StrEnum):
    LOCAL = "local"  # JVMs on this machine, each node in its own network namespace when we may
    DOCKER = "docker"  # each node a container on a Docker engine (harness.cluster.containers)


def offers(backend: BackendName, network: NetworkMode = NetworkMode.AUTO,
           docker: "DockerSpec | None" = None) -> frozenset[Capability]:
    """The capabilities `backend` can give a cluster on this machine."""
    if backend == BackendName.DOCKER:
        return _docker_offers(attached=bool(docker and docker.attach))
    offered = {Capability.PROCESSES, Capability.TOPOLOGY, Capability.PROXIES}
    if network != NetworkMode.LOOPBACK and has_net_admin():
        offered.add(Capability.NETWORK)
    if os.geteuid() == 0:
        offered.add(Capability.DISKS)
    return frozenset(offered)


def _docker_offers(attached: bool) -> frozenset[Capability]:
    """Network and disk faults enter the containers' namespaces (the engine here, root); a cluster
    taken over has neither proxies nor disks of its own."""
    offered = {Capability.PROCESSES, Capability.TOPOLOGY}
    if local_control():
        offered.add(Capability.NETWORK)
    if not attached:
        offered.add(Capability.PROXIES)
        if local_control():
            offered.add(Capability.DISKS)
    return frozenset(offered)


def create(backend: BackendName, spec: ClusterSpec, workdir: Path) -> "Backend":
    if backend == BackendName.DOCKER:
        from harness.cluster.containers.cluster import DockerCluster
        from harness.cluster.containers.compose import ComposeCluster

        return ComposeCluster(spec, workdir) if spec.docker.attach else DockerCluster(spec, workdir)
    from harness.cluster.local import LocalCluster

    return LocalCluster(spec, workdir)


def kept(backend: BackendName, name: str) -> "tuple[Backend, ClusterSpec] | None":
    """A cluster `name` that an earlier run left running on purpose, and the spec it was asked with."""
    if backend == BackendName.DOCKER:
        return _kept_container_cluster(name)
    from harness.cluster import state
    from harness.cluster.local import LocalCluster

    recorded = state.read_state(name)
    if recorded is None or recorded.owner is not None:
        return None
    if not (recorded.workdir / "nodes").is_dir():  # its files were removed under it: unusable
        state.sweep(name)
        return None
    return LocalCluster.attach(name), recorded.spec


def _kept_container_cluster(name: str) -> "tuple[Backend, ClusterSpec] | None":
    from harness.cluster.containers import state
    from harness.cluster.containers.cluster import DockerCluster

    recorded = state.read_state(name)
    if recorded is None or recorded.owner is not None:
        return None
    cluster = DockerCluster.attach(name)
    if not recorded.spec.docker.attach and not any(n.status != "dead" for n in cluster.nodes.values()):
        state.sweep(name)  # its containers were removed under it: unusable
        return None
    return cluster, recorded.spec


def attach(backend: BackendName, name: str) -> "Backend":
    """The running cluster `name` of `backend`, as the process that started it recorded it."""
    if backend == BackendName.DOCKER:
        from harness.cluster.containers.cluster import DockerCluster

        return DockerCluster.attach(name)
    from harness.cluster.local import LocalCluster

    return LocalCluster.attach(name)


def backend_of(name: str) -> BackendName:
    """Which backend runs the cluster `name` (by its state file)."""
    from harness.cluster import state
    from harness.cluster.containers import state as containers
    from harness.errors import UsageError

    if state.state_file(name).exists():
        return BackendName.LOCAL
    if containers.state_file(name).exists():
        return BackendName.DOCKER
    raise UsageError(f"no cluster named {name!r} is running (see `kafka-chaos cluster status`)")


def down(name: str | None = None) -> list[str]:
    """Stop the cluster `name` (or every kafka-chaos cluster) and remove all it left, also when the
    harness that started it was killed: what was removed beyond a clean stop."""
    from harness.cluster import state
    from harness.errors import UsageError

    for each in [name] if name else state.known_clusters():
        try:
            attach(BackendName.LOCAL, each).destroy()
        except UsageError:
            pass  # no state: the sweep below still finds its processes and network
    return state.sweep(name) + _down_containers(name)


def _down_containers(name: str | None) -> list[str]:
    """The docker part of `down`: skipped when there is no engine and no docker cluster on record."""
    from harness.cluster.containers import state
    from harness.cluster.containers.engine import client
    from harness.errors import EnvironmentProblem, UsageError

    recorded = [name] if name and state.state_file(name).exists() else [] if name else state.known_clusters()
    try:
        client()
    except EnvironmentProblem:
        if recorded:
            raise
        return []  # no engine, nothing of ours recorded: nothing to do
    for each in recorded:
        try:
            attach(BackendName.DOCKER, each).destroy()
        except (UsageError, EnvironmentProblem):
            pass  # the sweep below removes what it left
    return state.sweep(name)
