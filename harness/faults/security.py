"""Faults only a secured cluster has: a worker's ACLs taken away for a while, and its credentials
rotated mid-run. Left behind by a dead harness: revoked ACLs, which are written down before they
are revoked, so the sweep grants them again."""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import model_validator

from harness.cluster.backend import Backend, Capability
from harness.cluster.security import Operation, Resource
from harness.faults.base import Env, FaultError, FaultSpec, Injected, fault, sweep
from harness.faults.client import current


def _granted(env: Env, worker: str):
    """The run's access to its principals, and `worker`'s ACLs."""
    access = env.workload.access if env.workload else None
    if access is None or worker not in access.acls:
        raise FaultError(f"worker {worker!r} has no principal of its own (is the cluster secured?)")
    return access, access.acls[worker]


@fault
class RevokeAcl(FaultSpec):
    """Take a worker's read or write ACLs away for the fault's window (a producer's sends are then
    refused, definitely not written; a consumer stops making progress); healed by granting them again."""

    fault: Literal["revoke-acl"] = "revoke-acl"
    needs: ClassVar = frozenset({Capability.SECURITY})
    worker: str
    operation: Literal["read", "write"]
    resource: Literal["topic", "group"] = "topic"

    @model_validator(mode="after")
    def _meaningful(self) -> "RevokeAcl":
        if self.resource == "group" and self.operation != "read":
            raise ValueError("a group is only ever read: revoke read on it")
        return self

    def inject(self, env: Env) -> Injected:
        access, granted = _granted(env, self.worker)
        taken = [a for a in granted if a.operation == Operation(self.operation) and a.resource == Resource(self.resource)]
        if not taken:
            raise FaultError(f"worker {self.worker} holds no {self.operation} ACL on a {self.resource}")
        tag = f"revoke-acl-{uuid.uuid4().hex[:8]}"
        security = env.security
        security.revoke(taken, tag)
        names = ", ".join(sorted({a.name for a in taken}))

        def heal() -> str:
            restored = security.restore(tag)
            return f"granted {len(restored)} ACL(s) to User:{taken[0].user} again"

        return Injected(f"revoked {self.operation} on {self.resource} {names} from worker {self.worker}",
                        [self.worker], [f"deleted ACL {a}" for a in taken], heal)


@fault
class RotateCredentials(FaultSpec):
    """Rotate a worker's credential mid-run, as a deploy would: the worker stops (SIGTERM), gets a
    new SCRAM password (the old one is refused from then on) or a new certificate of the cluster's
    CA (the old one stays valid: brokers check no revocation list), and its next incarnation starts
    with it. Nothing to heal: the new credential stays."""

    fault: Literal["rotate-credentials"] = "rotate-credentials"
    needs: ClassVar = frozenset({Capability.SECURITY})
    worker: str

    def inject(self, env: Env) -> Injected:
        access, _ = _granted(env, self.worker)
        process = current(env, self.worker)
        pid = process.pid
        process.stop()
        credential = access.rotate(self.worker)
        newer = env.workload.start(process.runtime.worker)
        what = "SCRAM password" if credential.password else "certificate"
        return Injected(f"rotated worker {self.worker}'s {what}; {newer.name}.{newer.incarnation} started with the "
                        f"new one", [self.worker], [f"SIGTERM pid {pid}", f"new {what} for User:{credential.user}",
                                                    f"started pid {newer.pid}"],
                        lambda: f"nothing to heal: {self.worker} keeps its new {what}")


@sweep(Capability.SECURITY)
def acls_back(cluster: Backend) -> list[str]:
    """Grant again every ACL a fault revoked and no heal restored."""
    return cluster.access.sweep_acls()
