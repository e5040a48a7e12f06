"""What the cluster says about itself through the Kafka admin API (any backend)."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import ElectionType, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

from harness.clientlog import CLIENT_LOG

PROPAGATION_S = 5.0


def _unknown_topic(exc: BaseException) -> bool:
    return isinstance(exc, KafkaException) and exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART



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

    def __init__(self, bootstrap_servers: str, timeout: float = 10.0):
        self.timeout = timeout
        self._client = AdminClient({"bootstrap.servers": bootstrap_servers, "logger": CLIENT_LOG})

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
