"""What the cluster says about itself through the Kafka admin API (any backend)."""

from __future__ import annotations

import re
import struct
import warnings
from dataclasses import dataclass

from confluent_kafka import Consumer, ElectionType, IsolationLevel, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient,
                                  NewPartitions, NewTopic, OffsetSpec, ResourcePatternType, ResourceType,
                                  ScramCredentialInfo, ScramMechanism, UserScramCredentialDeletion,
                                  UserScramCredentialUpsertion)
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

from harness.clientlog import CLIENT_LOG
from harness.cluster.security import Acl, Credential, Mechanism, Operation, Resource

PROPAGATION_S = 5.0
METADATA_REFRESH_MS = 2000  # partitions added mid-run become known quickly


def _unknown_topic(exc: BaseException) -> bool:
    return isinstance(exc, KafkaException) and exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART



@dataclass(frozen=True)
class GroupState:
    """A consumer group as its coordinator describes it, with what it has committed."""
    group: str
    state: str
    members: tuple[str, ...]  # client ids
    assignment: tuple[tuple[str, int, str], ...]  # (topic, partition, client id)
    committed: tuple[tuple[str, int, int], ...]  # (topic, partition, next offset to read)


@dataclass(frozen=True)
class PartitionState:
    topic: str
    partition: int
    leader: int | None
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader_epoch: int = -1

    @property
    def fully_replicated(self) -> bool:
        return self.leader is not None and set(self.isr) == set(self.replicas)


class KafkaAdmin:
    """Queries go out as plain Metadata requests, which any live broker answers: librdkafka sends
    DescribeTopics/DescribeCluster to "the controller", in KRaft a random broker that may be the
    one we just killed."""

    def __init__(self, bootstrap_servers: str, timeout: float = 10.0, client: dict | None = None):
        """`client`: librdkafka properties the harness adds on a secured cluster (its super user's login)."""
        self.timeout, self.bootstrap_servers = timeout, bootstrap_servers
        self._security = dict(client or {})
        self._readers: dict[str, Consumer] = {}  # per group, for its committed offsets
        self._client = AdminClient({"bootstrap.servers": bootstrap_servers, "logger": CLIENT_LOG,
                                    "topic.metadata.refresh.interval.ms": METADATA_REFRESH_MS, **self._security})

    def broker_ids(self) -> set[int]:
        """Brokers registered and not fenced, as the answering broker knows them."""
        return set(self._client.list_topics(timeout=self.timeout).brokers)

    def partitions(self, topic: str) -> list[PartitionState]:
        """The topic's partitions as the answering broker knows them. A broker may not know a
        topic just created elsewhere yet: that is retried for a few seconds."""
        retrying = Retrying(stop=stop_after_delay(PROPAGATION_S), wait=wait_fixed(0.1), reraise=True,
                            retry=retry_if_exception(_unknown_topic))
        return retrying(self._partitions, topic)

    def _partitions(self, topic: str) -> list[PartitionState]:
        metadata = self._client.list_topics(topic, timeout=self.timeout).topics[topic]
        if metadata.error is not None:
            raise KafkaException(metadata.error)
        return [
            PartitionState(topic=topic, partition=p.id, leader=p.leader if p.leader >= 0 else None,
                           replicas=tuple(p.replicas), isr=tuple(p.isrs))
            for p in sorted(metadata.partitions.values(), key=lambda p: p.id)
        ]

    def partition(self, topic: str, partition: int) -> PartitionState:
        return next(p for p in self.partitions(topic) if p.partition == partition)

    def topics(self) -> set[str]:
        return set(self._client.list_topics(timeout=self.timeout).topics)

    def create_topic(self, name: str, partitions: int, replication_factor: int,
                     config: dict[str, str] | None = None) -> None:
        """Create `name`; an existing topic of that name is left as it is."""
        topic = NewTopic(name, num_partitions=partitions, replication_factor=replication_factor,
                         config=config or {})
        future = self._client.create_topics([topic], request_timeout=self.timeout)[name]
        try:
            future.result(self.timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise

    def delete_topic(self, name: str) -> None:
        future = self._client.delete_topics([name], request_timeout=self.timeout)[name]
        try:
            future.result(self.timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise

    def add_partitions(self, topic: str, total: int) -> None:
        future = self._client.create_partitions([NewPartitions(topic, total)], request_timeout=self.timeout)[topic]
        future.result(self.timeout)

    def elect_preferred(self, partitions: list[tuple[str, int]]) -> dict[str, str]:
        """Preferred leader election; per partition 'elected' or the broker's reason."""
        wanted = [TopicPartition(topic, partition) for topic, partition in partitions]
        # (no request_timeout: confluent-kafka 2.16 rejects keyword arguments to elect_leaders)
        results = self._client.elect_leaders(ElectionType.PREFERRED, wanted)
        return {f"{tp.topic}-{tp.partition}": (error.str() if error else "elected")
                for tp, error in results.result(self.timeout).items()}

    def group(self, group: str, topics: list[str]) -> GroupState:
        """State, members, assignment and committed offsets (in `topics`) of a consumer group.

        Through the legacy group listing and a consumer's committed(), not describe_consumer_groups
        / list_consumer_group_offsets: those abort the process (librdkafka assertion in
        rd_kafka_enq_once_del_source_return) when a broker dies under them.
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            [found] = self._client.list_groups(group, timeout=self.timeout) or [None]
        if found is None or found.error is not None:
            raise KafkaException(found.error if found else KafkaError(KafkaError.GROUP_ID_NOT_FOUND))
        members = [(m.client_id, _assigned(m.assignment)) for m in found.members]
        return GroupState(
            group=group, state=re.sub(r"(?<!^)(?=[A-Z])", "_", found.state).upper(),  # Stable → STABLE
            members=tuple(sorted(client for client, _ in members)),
            assignment=tuple(sorted((t, p, client) for client, owned in members for t, p in owned)),
            committed=tuple(sorted((tp.topic, tp.partition, tp.offset) for tp in self._committed(group, topics)
                                   if tp.offset >= 0)))

    def _committed(self, group: str, topics: list[str]) -> list[TopicPartition]:
        if group not in self._readers:  # never subscribes: it only asks the coordinator
            self._readers[group] = Consumer({"bootstrap.servers": self.bootstrap_servers, "group.id": group,
                                             "enable.auto.commit": False, "logger": CLIENT_LOG, **self._security})
        metadata = self._client.list_topics(timeout=self.timeout).topics
        wanted = [TopicPartition(t, p) for t in topics if t in metadata for p in sorted(metadata[t].partitions)]
        return self._readers[group].committed(wanted, timeout=self.timeout) if wanted else []

    def end_offsets(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The last stable offset of each partition (where a read_committed consumer's lag ends);
        partitions the client cannot tell right now (e.g. just added) are left out."""
        wanted = {TopicPartition(t, p): OffsetSpec.latest() for t, p in partitions}
        futures = self._client.list_offsets(wanted, isolation_level=IsolationLevel.READ_COMMITTED,
                                            request_timeout=self.timeout)
        found = {}
        for tp, future in futures.items():
            try:
                found[(tp.topic, tp.partition)] = future.result(self.timeout).offset
            except KafkaException:
                continue
        return found


    # ---- security: ACLs and SCRAM credentials (a secured cluster; the harness is a super user) ----

    def create_acls(self, acls: list[Acl]) -> None:
        if acls:
            for future in self._client.create_acls([_binding(a) for a in acls],
                                                   request_timeout=self.timeout).values():
                future.result(self.timeout)

    def delete_acls(self, acls: list[Acl]) -> int:
        """Remove exactly these ACLs; how many the cluster had."""
        if not acls:
            return 0
        futures = self._client.delete_acls([_binding(a, AclBindingFilter) for a in acls], request_timeout=self.timeout)
        return sum(len(future.result(self.timeout)) for future in futures.values())

    def acls_of(self, user: str) -> list[Acl]:
        """Every ALLOW ACL of `user` the cluster has."""
        wanted = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{user}", None,
                                  AclOperation.ANY, AclPermissionType.ALLOW)
        found = self._client.describe_acls(wanted, request_timeout=self.timeout).result(self.timeout)
        return sorted(_acl(b) for b in found if _acl(b) is not None)

    def set_password(self, credential: Credential, mechanism: Mechanism, iterations: int) -> None:
        """Create or change `credential.user`'s SCRAM credential (stored in the cluster's metadata)."""
        info = ScramCredentialInfo(ScramMechanism[mechanism.name], iterations)
        upsert = UserScramCredentialUpsertion(credential.user, info, credential.password.encode())
        for future in self._client.alter_user_scram_credentials([upsert], request_timeout=self.timeout).values():
            future.result(self.timeout)

    def delete_user(self, user: str, mechanism: Mechanism) -> None:
        deletion = UserScramCredentialDeletion(user, ScramMechanism[mechanism.name])
        for future in self._client.alter_user_scram_credentials([deletion], request_timeout=self.timeout).values():
            try:
                future.result(self.timeout)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.RESOURCE_NOT_FOUND:
                    raise


_RESOURCES = {Resource.TOPIC: ResourceType.TOPIC, Resource.GROUP: ResourceType.GROUP,
              Resource.TRANSACTIONAL_ID: ResourceType.TRANSACTIONAL_ID, Resource.CLUSTER: ResourceType.BROKER}
_OPERATIONS = {Operation.READ: AclOperation.READ, Operation.WRITE: AclOperation.WRITE,
               Operation.DESCRIBE: AclOperation.DESCRIBE, Operation.IDEMPOTENT_WRITE: AclOperation.IDEMPOTENT_WRITE}


def _binding(acl: Acl, kind=AclBinding):
    pattern = ResourcePatternType.PREFIXED if acl.prefixed else ResourcePatternType.LITERAL
    return kind(_RESOURCES[acl.resource], acl.name, pattern, f"User:{acl.user}", "*", _OPERATIONS[acl.operation],
                AclPermissionType.ALLOW)


def _acl(binding) -> Acl | None:
    resource = next((r for r, t in _RESOURCES.items() if t == binding.restype), None)
    operation = next((o for o, t in _OPERATIONS.items() if t == binding.operation), None)
    if resource is None or operation is None or not binding.principal.startswith("User:"):
        return None
    return Acl(binding.principal.removeprefix("User:"), resource, binding.name, operation,
               binding.resource_pattern_type == ResourcePatternType.PREFIXED)


def _assigned(assignment: bytes) -> list[tuple[str, int]]:
    """(topic, partition) pairs of a member's consumer-protocol assignment: int16 version, then
    an array of topics, each a string and an array of int32 partitions (user data ignored)."""
    if not assignment:
        return []
    found, at = [], 2
    (topics,), at = struct.unpack_from(">i", assignment, at), at + 4
    for _ in range(max(topics, 0)):
        (length,), at = struct.unpack_from(">h", assignment, at), at + 2
        topic, at = assignment[at:at + length].decode(), at + length
        (count,), at = struct.unpack_from(">i", assignment, at), at + 4
        found += [(topic, p) for p in struct.unpack_from(f">{count}i", assignment, at)]
        at += 4 * count
    return found
