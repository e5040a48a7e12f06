"""Clusters kept across experiments: one cluster while consecutive experiments' cluster specs
agree, and the cluster an earlier `run --keep-cluster` left running."""

from __future__ import annotations

import logging
from pathlib import Path

from harness.cluster import backends
from harness.cluster.backend import Backend, Capability
from harness.cluster.backends import BackendName
from harness.cluster.spec import ClusterSpec
from harness.faults import heal_leftovers
from harness.process import ProcessState

log = logging.getLogger(__name__)


class ClusterPool:
    """`backend` is the default: a spec of another backend's (an experiment's ssh or external
    cluster) gets that backend."""

    def __init__(self, workdir: Path, keep: bool = False, backend: BackendName = BackendName.LOCAL):
        self.workdir, self.keep, self.backend = workdir, keep, backend
        self.cluster: Backend | None = None
        self.spec: ClusterSpec | None = None  # as requested: a started cluster's own spec is resolved

    def get(self, spec: ClusterSpec) -> Backend:
        """A ready cluster that serves `spec`: the one in hand, healed, or a new one."""
        backend = backends.backend_of(spec) if backends.backend_of(spec) != BackendName.LOCAL else self.backend
        if self.cluster is None:
            self._adopt_kept(backend, spec.name)
        if self.cluster and type(self.spec) is type(spec) and self.spec.serves(spec) and self._all_up():
            heal_leftovers(self.cluster)
            self.cluster.wait_ready()
            return self.cluster
        self.close(force=True)
        self.cluster, self.spec = backends.create(backend, spec, self.workdir / "cluster"), spec
        self.cluster.start(owned=not self.keep)
        return self.cluster

    def _all_up(self) -> bool:
        if Capability.PROCESSES not in self.cluster.capabilities:
            return True
        return all(self.cluster.node(i).status != ProcessState.DEAD for i in self.cluster.node_ids)

    def _adopt_kept(self, backend: BackendName, name: str) -> None:
        """The harness's own run cluster, if one is left running: reused when the spec agrees,
        replaced otherwise (`cluster up` clusters have other names and are never touched)."""
        kept = backends.kept(backend, name)
        if kept:
            self.cluster, self.spec = kept
            log.info("found cluster %r left running by an earlier run", name)

    def close(self, force: bool = False) -> None:
        if self.cluster and (force or not self.keep):
            self.cluster.destroy()
            self.cluster = self.spec = None
