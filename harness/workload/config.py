"""What each worker does: typed configurations, and the semantics presets that fill them in.

A worker configuration says what to do (topics, rates, keys, transactions, commit strategy);
`resolve(worker, semantics)` fills every field the user left out from the semantics preset,
and the librdkafka properties from the preset with the user's `client` overrides on top, so a
known-bad configuration (acks=1, idempotence off with retries) is one override away.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.history.values import HEADER_LEN, MAX_SEQ
from harness.limits import MAX_SECONDS, PositiveSeconds
from harness.names import GroupName, TopicName
from harness.redact import redact, restore, secrets
from harness.semantics import Semantics

ClientProperties = dict[str, str | int | float | bool]
NAME_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"
SECRETS_ENV = "KAFKA_CHAOS_SECRETS"  # a worker's passwords and keys, kept out of runtime.json
UNUSED_GROUP = "kafka-chaos-unused-{}"  # the group id of a consumer that assigns partitions itself
FINAL_READ_GROUP_PREFIX = "kafka-chaos-final-read-"


class Isolation(StrEnum):
    READ_COMMITTED = "read_committed"
    READ_UNCOMMITTED = "read_uncommitted"


class CommitStrategy(StrEnum):
    AUTO = "auto"  # librdkafka's own: offsets stored when polled, committed on a timer
    BEFORE = "before-processing"  # commit, then process: a crash loses processing
    AFTER = "after-processing"  # process, then commit: a crash repeats processing


class CommitMode(StrEnum):
    SYNC = "sync"
    ASYNC = "async"


class CommitScope(StrEnum):
    MESSAGE = "per-message"
    BATCH = "per-batch"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class KeyDistribution(_Strict):
    distribution: Literal["none", "uniform", "hot"] = "uniform"
    count: int = Field(64, ge=1, le=10_000_000, description="distinct keys (besides the hot key)")
    hot_share: float = Field(0.8, gt=0, le=1, description="share of sends carrying the hot key")


class TransactionSpec(_Strict):
    size: int = Field(100, ge=1, le=1_000_000, description="sends per transaction (spread over the topics)")
    abort_ratio: float = Field(0.0, ge=0, le=1, description="share of transactions deliberately aborted")


class _Worker(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    client: ClientProperties = Field(default_factory=dict, description="librdkafka properties, over the preset")


class ProducerConfig(_Worker):
    kind: Literal["producer"] = "producer"
    topics: list[TopicName] = Field(min_length=1)
    rate: float | None = Field(None, gt=0, le=10_000_000, description="sends per second; unset: as fast as possible")
    messages: int | None = Field(None, ge=0, le=MAX_SEQ + 1,
                                 description="stop after this many sends; unset: until stopped")
    value_size: int = Field(100, ge=HEADER_LEN, le=64 * 2**20)
    keys: KeyDistribution = Field(default_factory=KeyDistribution)
    transactions: TransactionSpec | None = None


class ConsumerConfig(_Worker):
    kind: Literal["consumer"] = "consumer"
    topics: list[TopicName] = Field(min_length=1)
    group: GroupName | None = Field(None, description="consumer group; unset: assign every partition manually")
    isolation: Isolation = Isolation.READ_UNCOMMITTED
    commit: CommitStrategy = CommitStrategy.AFTER
    commit_mode: CommitMode = CommitMode.SYNC
    commit_scope: CommitScope = CommitScope.BATCH
    batch_size: int = Field(100, ge=1, le=100_000)
    processing_ms: float = Field(0, ge=0, le=MAX_SECONDS * 1000, description="simulated processing time per record")
    poison_every: int | None = Field(None, ge=2, le=MAX_SEQ + 1,
                                     description="records with seq % N == N-1 fail processing")
    dead_letter_topic: TopicName | None = Field(None,
                                                description="where poison records go; unset: they crash the consumer")
    max_buffered: int | None = Field(None, ge=1, le=10_000_000,
                                     description="backpressure: pause fetching above this many "
                                                 "records waiting, resume at half")

    @model_validator(mode="after")
    def _commits_need_a_group(self) -> "ConsumerConfig":
        if self.group is None and "commit" in self.model_fields_set:
            raise ValueError("a commit strategy needs a consumer group (set `group`)")
        if self.dead_letter_topic and not self.poison_every:
            raise ValueError("a dead letter topic needs poison_every")
        return self


class TransformerConfig(_Worker):
    """Consume-transform-produce: each input becomes `outputs_per_input` records on `output`,
    written in a transaction that also commits the input offsets. `client` configures its
    consumer, `producer_client` its producer."""

    kind: Literal["transformer"] = "transformer"
    producer_client: ClientProperties = Field(default_factory=dict)
    input: TopicName
    output: TopicName
    group: GroupName
    outputs_per_input: int = Field(1, ge=1, le=100)
    value_size: int = Field(100, ge=HEADER_LEN, le=64 * 2**20)
    batch_size: int = Field(100, ge=1, le=100_000)
    processing_ms: float = Field(0, ge=0, le=MAX_SECONDS * 1000)


class SinkMode(StrEnum):
    EXACTLY_ONCE = "exactly-once"  # rows and input offsets in one database transaction
    AT_LEAST_ONCE = "at-least-once"  # rows committed, then offsets committed to Kafka: a crash between repeats rows


class SinkConfig(_Worker):
    """Consume `input` and write each record as a row of a PostgreSQL table (the run's own
    database). `exactly-once`: the input offsets are stored in the same transaction as the rows,
    and a start seeks to them (never to Kafka's committed offsets); `at-least-once`: rows are
    committed first, offsets to Kafka every `commit_interval_ms` (as Kafka Connect does).
    Unset `mode` follows the semantics."""

    kind: Literal["sink"] = "sink"
    input: TopicName
    group: GroupName
    mode: SinkMode | None = None
    batch_size: int = Field(100, ge=1, le=100_000)
    commit_interval_ms: int = Field(1000, ge=0, le=int(MAX_SECONDS * 1000),
                                    description="at-least-once: how often offsets go to Kafka (0: after every batch)")
    processing_ms: float = Field(0, ge=0, le=MAX_SECONDS * 1000)

    @property
    def topics(self) -> list[str]:
        return [self.input]


class StreamsGuarantee(StrEnum):
    EXACTLY_ONCE_V2 = "exactly_once_v2"
    AT_LEAST_ONCE = "at_least_once"


class StreamsConfig(_Worker):
    """One instance of a real Kafka Streams application (Java, workers/streams/): a count per key
    of `input` in a state store with its changelog, each input producing one record on `output`
    (same key, the count after it). Instances sharing `application` (the application.id) split
    the input's partitions. `client`: Kafka Streams (Java) properties over the harness's. Unset
    `processing_guarantee` follows the semantics (exactly-once: exactly_once_v2)."""

    kind: Literal["streams"] = "streams"
    input: TopicName
    output: TopicName
    application: GroupName
    processing_guarantee: StreamsGuarantee | None = None
    standby_replicas: int = Field(0, ge=0, le=10, description="num.standby.replicas")
    commit_interval_ms: int | None = Field(None, ge=1, le=int(MAX_SECONDS * 1000),
                                           description="commit.interval.ms; unset: Kafka Streams' default "
                                                       "(100 under exactly_once_v2, 30000 under at_least_once)")
    client: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Kafka Streams (Java) properties, over the harness's")

    @property
    def group(self) -> str:
        return self.application  # a Streams application's consumer group is its application.id


class FinalReadConfig(_Worker):
    """Read every partition from its earliest offset to its end, recording the end it reached."""

    kind: Literal["final-read"] = "final-read"
    topics: list[TopicName] = Field(min_length=1)
    isolation: Isolation
    timeout_s: PositiveSeconds = 120


WorkerConfig = Annotated[
    Union[ProducerConfig, ConsumerConfig, TransformerConfig, SinkConfig, StreamsConfig, FinalReadConfig], Field(discriminator="kind")]


class Runtime(_Strict):
    """Everything a worker process needs, written as JSON for `python -m harness.workload`."""

    worker: WorkerConfig
    semantics: Semantics
    bootstrap_servers: str
    history_dir: Path
    incarnation: int = Field(ge=1)
    producer_id: int | None = None
    transactional_id: str | None = None
    seed: int = 0
    consumer_client: ClientProperties = Field(default_factory=dict, description="resolved librdkafka properties")
    producer_client: ClientProperties = Field(default_factory=dict, description="resolved librdkafka properties")
    database: str | None = Field(None, description="a sink's PostgreSQL connection string (a local socket, no secret)")

    def save(self, path: Path) -> dict[str, str]:
        """Write the runtime with its secrets redacted, so no password rests in the run directory;
        returns the environment variables that carry them to the worker instead."""
        data = self.model_dump(mode="json")
        path.write_text(json.dumps(redact(data), indent=2))
        hidden = secrets(data)
        return {SECRETS_ENV: json.dumps(hidden)} if hidden else {}

    @classmethod
    def load(cls, path: Path) -> "Runtime":
        """Read a runtime written by `save`, its secrets restored from the environment."""
        hidden = json.loads(os.environ.pop(SECRETS_ENV, "{}"))
        return cls.model_validate(restore(json.loads(path.read_text()), hidden))


# ---- presets -------------------------------------------------------------------------------

_PRODUCER_CLIENT: dict[Semantics, ClientProperties] = {
    Semantics.AT_MOST_ONCE: {"acks": "1", "enable.idempotence": False, "retries": 0},
    Semantics.AT_LEAST_ONCE: {"acks": "all", "enable.idempotence": True},
    Semantics.EXACTLY_ONCE: {"acks": "all", "enable.idempotence": True},
}
_CONSUMER_FIELDS: dict[Semantics, dict] = {
    Semantics.AT_MOST_ONCE: {"commit": CommitStrategy.BEFORE, "isolation": Isolation.READ_UNCOMMITTED},
    Semantics.AT_LEAST_ONCE: {"commit": CommitStrategy.AFTER, "isolation": Isolation.READ_UNCOMMITTED},
    Semantics.EXACTLY_ONCE: {"commit": CommitStrategy.AFTER, "isolation": Isolation.READ_COMMITTED},
}
_CONSUMER_CLIENT: ClientProperties = {
    "auto.offset.reset": "earliest",
    # Faster failure detection than Kafka's 45 s default, so crashes show within a short run.
    "session.timeout.ms": 10_000,
    "heartbeat.interval.ms": 2_000,
}
_TRANSACTIONAL_PRODUCER: ClientProperties = {
    "acks": "all", "enable.idempotence": True, "transaction.timeout.ms": 30_000,
}


class Clients(BaseModel):
    """Resolved librdkafka properties of a worker's consumer and producer (empty if it has none)."""

    consumer: ClientProperties = {}
    producer: ClientProperties = {}


def resolve(worker: WorkerConfig, semantics: Semantics) -> tuple[WorkerConfig, Clients]:
    """The worker with the preset's defaults for every field the user left out, and its
    librdkafka properties (preset, then the user's overrides)."""
    if isinstance(worker, ProducerConfig):
        if semantics == Semantics.EXACTLY_ONCE and "transactions" not in worker.model_fields_set:
            worker = worker.model_copy(update={"transactions": TransactionSpec()})
        return worker, Clients(producer={**_PRODUCER_CLIENT[semantics], **worker.client})
    if isinstance(worker, ConsumerConfig):
        preset = {k: v for k, v in _CONSUMER_FIELDS[semantics].items() if k not in worker.model_fields_set}
        worker = worker.model_copy(update=preset)
        commit = {"enable.auto.commit": worker.commit == CommitStrategy.AUTO}
        dead_letters = {"acks": "all", "enable.idempotence": True} if worker.dead_letter_topic else {}
        return worker, Clients(consumer={**_CONSUMER_CLIENT, **commit, "isolation.level": worker.isolation.value,
                                         **worker.client}, producer=dead_letters)
    if isinstance(worker, TransformerConfig):
        consumer = {**_CONSUMER_CLIENT, "isolation.level": Isolation.READ_COMMITTED.value,
                    "enable.auto.commit": False, **worker.client}
        return worker, Clients(consumer=consumer, producer={**_TRANSACTIONAL_PRODUCER, **worker.producer_client})
    if isinstance(worker, SinkConfig):
        if worker.mode is None:
            exactly = semantics == Semantics.EXACTLY_ONCE
            worker = worker.model_copy(update={"mode": SinkMode.EXACTLY_ONCE if exactly else SinkMode.AT_LEAST_ONCE})
        # read_committed whatever `client` says: the checker counts a sink's reads as committed ones
        return worker, Clients(consumer={**_CONSUMER_CLIENT, "enable.auto.commit": False, **worker.client,
                                         "isolation.level": Isolation.READ_COMMITTED.value})
    if isinstance(worker, StreamsConfig):
        if worker.processing_guarantee is None:
            exactly = semantics == Semantics.EXACTLY_ONCE
            worker = worker.model_copy(update={"processing_guarantee": StreamsGuarantee.EXACTLY_ONCE_V2 if exactly
                                               else StreamsGuarantee.AT_LEAST_ONCE})
        return worker, Clients()  # its clients are Java's, set in harness.workload.streams
    return worker, Clients(consumer={"isolation.level": worker.isolation.value, **worker.client})
