"""The backends an experiment can name, what each offers, and how to make one: known without
starting anything (or importing a backend's clients), so `validate` stays fast."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cluster.backend import Capability
from harness.cluster.security import SecuritySpec
from harness.cluster.spec import ClusterSpec, NetworkMode
from harness.net.lab import has_net_admin

if TYPE_CHECKING:
    from harness.cluster.backend import Backend


class BackendName(StrEnum):
    LOCAL = "local"  # JVMs on this machine, each node in its own network namespace when we may


def offers(backend: BackendName, network: NetworkMode = NetworkMode.AUTO,
           security: SecuritySpec | None = None) -> frozenset[Capability]:
    """The capabilities `backend` can give a cluster on this machine (SECURITY: when secured)."""
    offered = {Capability.PROCESSES, Capability.TOPOLOGY, Capability.PROXIES}
    if security and security.secured:
        offered.add(Capability.SECURITY)
    if network != NetworkMode.LOOPBACK and has_net_admin():
        offered.add(Capability.NETWORK)
    if os.geteuid() == 0:
        offered.add(Capability.DISKS)
    return frozenset(offered)


def create(backend: BackendName, spec: ClusterSpec, workdir: Path) -> "Backend":
    from harness.cluster.local import LocalCluster

    return LocalCluster(spec, workdir)


def kept(backend: BackendName, name: str) -> "tuple[Backend, ClusterSpec] | None":
    """A cluster `name` that an earlier run left running on purpose, and the spec it was asked with."""
    from harness.cluster import state
    from harness.cluster.local import LocalCluster

    recorded = state.read_state(name)
    if recorded is None or recorded.owner is not None:
        return None
    if not (recorded.workdir / "nodes").is_dir():  # its files were removed under it: unusable
        state.sweep(name)
        return None
    return LocalCluster.attach(name), recorded.spec


def attach(backend: BackendName, name: str) -> "Backend":
    """The running cluster `name` of `backend`, as the process that started it recorded it."""
    from harness.cluster.local import LocalCluster

    return LocalCluster.attach(name)


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
    return state.sweep(name)
