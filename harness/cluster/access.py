"""Who may do what on a secured cluster, as the harness manages it (any backend that generates its
brokers' configuration from harness.cluster.security): users and their credentials, ACLs granted,
revoked and restored. What a fault revoked is written down (in the material's folder) before it
is revoked, so the sweep restores it also after a harness died mid-fault.

    access = ClusterAccess(spec.security, material, cluster.admin, cluster.broker_addresses)
    credential = access.credential("kc-1a2b3c-p1")     # in force on every running broker on return
    access.grant([Acl("kc-1a2b3c-p1", Resource.TOPIC, "orders-1a2b3c", Operation.WRITE)])
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable

from harness.cluster import metadata
from harness.cluster.admin import KafkaAdmin
from harness.cluster.security import (SCRAM_ITERATIONS, Acl, Credential, Login, Material, SecuritySpec,
                                      admin_properties, client_properties, new_password, write_private)
from harness.errors import EnvironmentProblem

log = logging.getLogger(__name__)
PROPAGATION_TIMEOUT_S = 30.0


class ClusterAccess:
    def __init__(self, spec: SecuritySpec, material: Material, admin: Callable[[], KafkaAdmin],
                 brokers: Callable[[], list[str]]):
        self.spec, self.material = spec, material
        self._admin, self._brokers = admin, brokers  # the running brokers' addresses, asked when needed

    @property
    def admin_client(self) -> dict[str, str]:
        """librdkafka properties of the harness's own clients (a super user)."""
        return admin_properties(self.spec, self.material)

    def login(self, credential: Credential | None = None) -> Login:
        return Login(self.spec, self.material, credential)

    def client(self, credential: Credential) -> dict[str, str]:
        """librdkafka properties of a client holding `credential`."""
        return client_properties(self.spec, self.material, credential)

    # ---- users ---------------------------------------------------------------------------------

    def credentials(self, users: list[str]) -> dict[str, Credential]:
        """A new credential for each user (a new SCRAM password, or a new certificate of the CA),
        in force on every running broker, with every ACL granted before, when this returns."""
        if not self.spec.sasl:
            made = {user: self.material.issue(user) for user in users}
        else:
            made = {user: Credential(user, password=new_password()) for user in users}
            for credential in made.values():
                self._admin().set_password(credential, self.spec.mechanism, SCRAM_ITERATIONS)
        self.settle()
        return made

    def credential(self, user: str) -> Credential:
        return self.credentials([user])[user]

    def remove_users(self, users: list[str]) -> None:
        if self.spec.sasl:
            for user in users:
                self._admin().delete_user(user, self.spec.mechanism)

    def authenticates(self, credential: Credential, address: str) -> bool:
        """Whether the broker at `address` accepts `credential` (SCRAM) right now."""
        try:
            metadata.fetch(address, [], timeout=5, login=self.login(credential))
            return True
        except metadata.AuthenticationFailed:
            return False

    def settle(self) -> None:
        """Wait until every running broker has applied every change made so far (users, ACLs): a
        barrier topic created after them is known to each (brokers apply metadata in order)."""
        barrier = f"kafka-chaos-barrier-{uuid.uuid4().hex[:12]}"
        admin = self._admin()
        admin.create_topic(barrier, partitions=1, replication_factor=1)
        deadline = time.monotonic() + PROPAGATION_TIMEOUT_S
        pending = set(self._brokers())
        while pending and time.monotonic() < deadline:
            for address in sorted(pending):
                try:
                    view = metadata.fetch(address, [barrier], timeout=5, login=self.login())
                    if (barrier, 0) in view.partitions:
                        pending.discard(address)
                except OSError:  # down or cut off: it catches up before it serves again
                    pending.discard(address)
            if pending:
                time.sleep(0.05)
        admin.delete_topic(barrier)
        if pending:
            raise EnvironmentProblem(f"brokers {sorted(pending)} did not catch up with the cluster's users and "
                                     f"ACLs within {PROPAGATION_TIMEOUT_S:.0f} s")

    # ---- ACLs ----------------------------------------------------------------------------------

    def grant(self, acls: list[Acl]) -> None:
        self._admin().create_acls(acls)

    def remove(self, acls: list[Acl]) -> int:
        """Remove `acls` for good; how many the cluster had."""
        return self._admin().delete_acls(acls)

    def acls_of(self, user: str) -> list[Acl]:
        return self._admin().acls_of(user)

    def revoke(self, acls: list[Acl], tag: str) -> int:
        """Remove `acls` until `restore(tag)`, written down first so a sweep can restore them."""
        self.material.revoked.mkdir(exist_ok=True)
        write_private(self.material.revoked / f"{tag}.json", json.dumps([a.to_json() for a in acls]))
        return self._admin().delete_acls(acls)

    def restore(self, tag: str) -> list[Acl]:
        """Grant again what `revoke(..., tag)` removed; what that was."""
        path = self.material.revoked / f"{tag}.json"
        if not path.exists():
            return []
        acls = [Acl.from_json(a) for a in json.loads(path.read_text())]
        self.grant(acls)
        path.unlink()
        return acls

    def sweep_acls(self) -> list[str]:
        """Restore every revocation still written down (a fault's heal that never ran)."""
        if not self.material.revoked.is_dir():
            return []
        return [f"restored {acl}" for path in sorted(self.material.revoked.glob("*.json"))
                for acl in self.restore(path.stem)]
