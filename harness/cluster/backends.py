"""The backends an experiment can name, what each offers, and how to make one: known without
starting anything (or importing a backend's clients), so `validate` stays fast."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cluster import faketime
from harness.cluster.backend import Capability
from harness.cluster.containers.engine import local_control
from harness.cluster.spec import ClusterSpec, NetworkMode
from harness.lazyfs import mount as lazy
from harness.net.lab import has_net_admin

if TYPE_CHECKING:
    from harness.cluster.backend import Backend


class BackendName(StrEnum):
    LOCAL = "local"  # JVMs on this machine, each node in its own network namespace when we may
    DOCKER = "docker"  # each node a container on a Docker engine (harness.cluster.containers)
    SSH = "ssh"  # a cluster someone else runs, its hosts reached over SSH
    EXTERNAL = "external"  # a cluster reached only as a client, by its bootstrap servers


def offers(backend: BackendName, network: NetworkMode = NetworkMode.AUTO, config=None) -> frozenset[Capability]:
    """The capabilities `backend` can give a cluster on this machine (for ssh and external, the
    cluster's own `config` says; SECURITY when a local cluster is secured, PROTOCOL when it is not;
    for docker, whether it takes over a running cluster)."""
    if backend == BackendName.SSH:
        from harness.cluster.ssh import offers as ssh_offers

        return ssh_offers(config)
    if backend == BackendName.EXTERNAL:
        from harness.cluster.external import offers as external_offers

        return external_offers(config)
    if backend == BackendName.DOCKER:
        docker = getattr(config, "docker", None)
        return docker_offers(attached=bool(docker and docker.attach))
    offered = {Capability.PROCESSES, Capability.TOPOLOGY, Capability.QUORUM, Capability.PROXIES,
               Capability.CLIENT_PROXIES}
    if config is not None and config.security.secured:
        offered.add(Capability.SECURITY)
    if network != NetworkMode.LOOPBACK and has_net_admin():
        offered |= {Capability.NETWORK, Capability.CLIENT_NETWORK}
    if os.geteuid() == 0:
        offered.add(Capability.DISKS)
    if lazy.available():
        offered.add(Capability.POWER)  # each node's data directory on lazyfs when a fault asks
    if faketime.library():
        offered.add(Capability.CLOCKS)  # libfaketime in each JVM when a fault asks
    if config is None or not config.security.secured:
        offered.add(Capability.PROTOCOL)  # the Kafka-protocol proxy reads plaintext framing only
    return frozenset(offered)


def docker_offers(attached: bool) -> frozenset[Capability]:
    """Network and disk faults enter the containers' namespaces (the engine here, root); a cluster
    taken over has neither proxies nor disks of its own. There is no lazyfs, libfaketime,
    Kafka-protocol proxy or secured listener in the containers, so power, clock, protocol and
    security faults are refused at validation."""
    offered = {Capability.PROCESSES, Capability.TOPOLOGY, Capability.QUORUM}
    if local_control():
        offered |= {Capability.NETWORK, Capability.CLIENT_NETWORK}
    if not attached:
        offered |= {Capability.PROXIES, Capability.CLIENT_PROXIES}
        if local_control():
            offered.add(Capability.DISKS)
    return frozenset(offered)


def backend_of(spec) -> BackendName:
    """The backend a cluster spec or config is for (a ClusterSpec says local or docker)."""
    return BackendName(getattr(spec, "backend", BackendName.LOCAL))


def create(backend: BackendName, spec, workdir: Path, dry_run: bool = False) -> "Backend":
    """A backend for `spec` (a ClusterSpec for local and docker; the experiment's cluster config otherwise)."""
    if backend == BackendName.SSH:
        from harness.cluster.ssh import SshCluster

        return SshCluster(spec, workdir, dry_run=dry_run)
    if backend == BackendName.EXTERNAL:
        from harness.cluster.external import ExternalCluster

        return ExternalCluster(spec, workdir, dry_run=dry_run)
    if backend == BackendName.DOCKER:
        from harness.cluster.containers.cluster import DockerCluster
        from harness.cluster.containers.compose import ComposeCluster
        from harness.cluster.containers.spec import DockerSpec

        if spec.docker is None:  # a local spec, run on docker (`run --backend docker`, the API's backend)
            spec = spec.model_copy(update={"docker": DockerSpec()})
        return ComposeCluster(spec, workdir) if spec.docker.attach else DockerCluster(spec, workdir)
    from harness.cluster.local import LocalCluster

    return LocalCluster(spec, workdir)


def kept(backend: BackendName, name: str) -> "tuple[Backend, ClusterSpec] | None":
    """A cluster `name` that an earlier run left running on purpose, and the spec it was asked with
    (only the local and docker backends start clusters of their own)."""
    if backend == BackendName.DOCKER:
        return _kept_container_cluster(name)
    if backend != BackendName.LOCAL:
        return None
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
    """The running cluster `name` of `backend`, as the process that started (or took up) it
    recorded it. A remote one is kept per process: the observer attaches at every sample."""
    if backend == BackendName.LOCAL:
        from harness.cluster.local import LocalCluster

        return LocalCluster.attach(name)
    if backend == BackendName.DOCKER:
        from harness.cluster.containers.cluster import DockerCluster

        return DockerCluster.attach(name)
    if (backend, name) not in _ATTACHED:
        if backend == BackendName.SSH:
            from harness.cluster.ssh import SshCluster as remote_backend
        else:
            from harness.cluster.external import ExternalCluster as remote_backend
        _ATTACHED[(backend, name)] = remote_backend.attach(name)
    return _ATTACHED[(backend, name)]


_ATTACHED: dict = {}


def backend_named(name: str) -> BackendName:
    """Which backend runs the cluster `name` the harness started (by its state file)."""
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
    from harness.database import postgres
    from harness.errors import UsageError

    for each in [name] if name else state.known_clusters():
        try:
            attach(BackendName.LOCAL, each).destroy()
        except UsageError:
            pass  # no state: the sweep below still finds its processes and network
    # and the database a killed harness's sinks wrote to, and what docker clusters left
    return state.sweep(name) + postgres.sweep(name) + _down_containers(name)


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


def heal(name: str | None = None, config=None) -> list[str]:
    """Undo what faults and a killed harness left on a cluster in use: rules on its hosts and
    here, toxics, fillers and read-only mounts, paused and dead brokers; the cluster named, the
    one `config` describes (an experiment's cluster), or every ssh and external one recorded. What
    was done."""
    from harness.cluster import remote
    from harness.errors import UsageError
    from harness.faults import heal_leftovers

    if config is not None:
        backend = backend_of(config)
        if backend == BackendName.LOCAL:
            raise UsageError("a local cluster is healed by name: kafka-chaos cluster heal --name NAME")
        clusters = [create(backend, config, Path("."))]
    else:
        names = [name] if name else remote.known()  # a local cluster only when named: others' clusters run here
        clusters = [_recorded(each) for each in names]
        if name and clusters == [None]:
            raise UsageError(f"no cluster named {name!r} is recorded here: give the experiment file instead")
    done = []
    for cluster in filter(None, clusters):
        remote_one = hasattr(cluster, "sweep_here")
        if remote_one and _in_use(cluster.name):
            done.append(f"{cluster.name}: in use by a running harness (pid {remote.read_state(cluster.name).owner.pid})"
                        ": left alone")
            continue
        done += [f"{cluster.name}: {line}" for line in heal_leftovers(cluster)]
        if remote_one:
            done += [f"{cluster.name}: {line}" for line in cluster.sweep_here()]
            remote.forget(cluster.name)
    return done


def _recorded(name: str):
    from harness.cluster import remote, state
    from harness.errors import UsageError

    recorded = remote.read_state(name)
    if recorded is not None:
        if "***" in str(recorded.config):
            raise UsageError(f"cluster {name!r} logs in with a secret that is not recorded: "
                             "kafka-chaos cluster heal EXPERIMENT.yaml")
        return create(BackendName(recorded.backend), _config(recorded), Path("."))
    from harness.cluster.containers import state as containers

    if containers.read_state(name):
        return attach(BackendName.DOCKER, name)
    return attach(BackendName.LOCAL, name) if state.read_state(name) else None


def _config(recorded):
    from harness.cluster.external_config import ExternalClusterConfig
    from harness.cluster.ssh_config import SshClusterConfig

    model = SshClusterConfig if recorded.backend == BackendName.SSH else ExternalClusterConfig
    return model.model_validate(recorded.config)


def _in_use(name: str) -> bool:
    """A live harness (not this process) uses the cluster `name`."""
    from harness.cluster import remote
    from harness.process import ProcessRef

    recorded = remote.read_state(name)
    owner = recorded.owner if recorded else None
    return bool(owner and owner.pid != os.getpid() and ProcessRef(owner.pid, owner.create_time).alive)
