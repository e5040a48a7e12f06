"""Each worker of a run as a principal of its own on a secured cluster, with exactly the ACLs its
role needs, derived from its configuration:

    producer      write and describe on its topics; idempotent write when idempotent;
                  write and describe on its transactional id when transactional
    consumer      read and describe on its topics, read on its group (the one it names, or the
                  group id it carries unused when it assigns partitions itself); a dead letter
                  topic as a producer's
    transformer   a consumer's on its input and group, a transactional producer's on its output
    final read    read and describe on every topic of the run, read on its groups (a prefix)

Users are named `kc-<tag>-<worker>`, so runs sharing a cluster never share a principal.
"""

from __future__ import annotations

from harness.cluster.backend import Security
from harness.cluster.security import Acl, Credential, Operation, Resource
from harness.workload.config import (FINAL_READ_GROUP_PREFIX, UNUSED_GROUP, Clients, ConsumerConfig,
                                     FinalReadConfig, ProducerConfig, SinkConfig, TransformerConfig, WorkerConfig)

CLUSTER_RESOURCE = "kafka-cluster"


def user_of(tag: str, worker: str) -> str:
    return f"kc-{tag}-{worker}"


def acls_for(worker: WorkerConfig, clients: Clients, user: str, transactional_id: str) -> list[Acl]:
    """The ACLs `worker` (resolved, with its librdkafka properties) needs, as `user`."""
    def on(resource: Resource, names, *operations: Operation, prefixed: bool = False) -> list[Acl]:
        return [Acl(user, resource, name, op, prefixed) for name in names for op in operations]

    def reads(topics, group: str, prefixed: bool = False) -> list[Acl]:
        return on(Resource.TOPIC, topics, Operation.READ, Operation.DESCRIBE) + \
            on(Resource.GROUP, [group], Operation.READ, prefixed=prefixed)

    def writes(topics, transactional: bool) -> list[Acl]:
        found = on(Resource.TOPIC, topics, Operation.WRITE, Operation.DESCRIBE)
        if transactional:
            found += on(Resource.TRANSACTIONAL_ID, [transactional_id], Operation.WRITE, Operation.DESCRIBE)
        if transactional or _idempotent(clients.producer):
            found += on(Resource.CLUSTER, [CLUSTER_RESOURCE], Operation.IDEMPOTENT_WRITE)
        return found

    if isinstance(worker, ProducerConfig):
        return sorted(writes(worker.topics, worker.transactions is not None))
    if isinstance(worker, ConsumerConfig):
        found = reads(worker.topics, worker.group or UNUSED_GROUP.format(worker.name))
        if worker.dead_letter_topic:
            found += writes([worker.dead_letter_topic], False)
        return sorted(found)
    if isinstance(worker, TransformerConfig):
        return sorted(reads([worker.input], worker.group) + writes([worker.output], True))
    if isinstance(worker, SinkConfig):
        return sorted(reads([worker.input], worker.group))
    if isinstance(worker, FinalReadConfig):
        return sorted(reads(worker.topics, FINAL_READ_GROUP_PREFIX, prefixed=True))
    raise TypeError(f"no ACLs known for {type(worker).__name__}")


def _idempotent(producer: dict) -> bool:
    return str(producer.get("enable.idempotence", False)).lower() == "true"


class Access:
    """The principals of one run's workers: created (with their ACLs) before the workers start,
    handed to each incarnation, rotated by a fault, removed when the run ends."""

    def __init__(self, security: Security, tag: str):
        self.security, self.tag = security, tag
        self.credentials: dict[str, Credential] = {}  # worker name -> its current credential
        self.acls: dict[str, list[Acl]] = {}  # worker name -> what it was granted

    def user(self, worker: str) -> str:
        return user_of(self.tag, worker)

    def prepare(self, wanted: dict[str, list[Acl]]) -> None:
        """Grant each worker its ACLs, then give it a credential (ACLs first: once a broker knows the
        credential, it knows the ACLs too, since metadata is applied in order)."""
        new = {name: acls for name, acls in wanted.items() if name not in self.credentials}
        self.security.grant([acl for acls in new.values() for acl in acls])
        self.acls.update(new)
        made = self.security.credentials([self.user(name) for name in new])
        self.credentials.update({name: made[self.user(name)] for name in new})

    def client(self, worker: str) -> dict[str, str]:
        """librdkafka properties that log `worker` in as itself."""
        return self.security.client(self.credentials[worker])

    def rotate(self, worker: str) -> Credential:
        """A new credential for `worker` (the old one stops working under SCRAM)."""
        self.credentials[worker] = self.security.credential(self.user(worker))
        return self.credentials[worker]

    def close(self) -> None:
        """Remove the run's principals and their ACLs from the cluster."""
        self.security.remove([acl for acls in self.acls.values() for acl in acls])
        self.security.remove_users([self.user(name) for name in self.credentials])
        self.acls.clear()
        self.credentials.clear()
