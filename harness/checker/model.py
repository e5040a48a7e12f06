"""What a check produces: anomaly kinds, statuses, policies and the verdict."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class AnomalyKind(StrEnum):
    LOST_WRITE = "lost-write"
    UNSEEN = "unseen"
    DUPLICATE = "duplicate"
    INCONSISTENT_OFFSETS = "inconsistent-offsets"
    NONMONOTONIC_SEND = "nonmonotonic-send"
    POLL_SKIP = "poll-skip"
    NONMONOTONIC_POLL = "nonmonotonic-poll"
    ABORTED_READ = "aborted-read"
    FAILED_WRITE_READ = "failed-write-read"
    TORN_TRANSACTION = "torn-transaction"
    DUPLICATE_PROCESSING = "duplicate-processing"
    LOST_PROCESSING = "lost-processing"
    DUPLICATE_OUTPUT = "duplicate-output"
    LOST_OUTPUT = "lost-output"
    KEY_ORDER = "key-order"
    PHANTOM = "phantom"
    OVERCOUNTED_STATE = "overcounted-state"
    UNDERCOUNTED_STATE = "undercounted-state"
    REPLICA_LOST_WRITE = "replica-lost-write"
    FAILOVER_REPROCESSING = "failover-reprocessing"
    FAILOVER_SKIP = "failover-skip"


DESCRIPTIONS: dict[AnomalyKind, str] = {
    AnomalyKind.LOST_WRITE: "acknowledged, never read, and provably not in the log: the final read read everywhere "
                            "it can be, or no replica's segment files hold it",
    AnomalyKind.UNSEEN: "acknowledged, never read, but not proven gone (beyond what the final read proved)",
    AnomalyKind.DUPLICATE: "one value at more than one offset",
    AnomalyKind.INCONSISTENT_OFFSETS: "one topic-partition-offset seen with different values",
    AnomalyKind.NONMONOTONIC_SEND: "a producer's later send to a partition landed at a lower offset",
    AnomalyKind.POLL_SKIP: "a reader jumped over records it should have seen, with no rebalance or seek between",
    AnomalyKind.NONMONOTONIC_POLL: "a reader went back to an earlier offset with no rebalance or seek between",
    AnomalyKind.ABORTED_READ: "a read_committed reader (under exactly-once: any consumer) saw a record of a "
                              "transaction that never committed",
    AnomalyKind.FAILED_WRITE_READ: "a record read whose producer was told it was definitely not written",
    AnomalyKind.TORN_TRANSACTION: "a committed transaction partly visible to read_committed",
    AnomalyKind.DUPLICATE_PROCESSING: "an acknowledged input processed more than once by a consumer group",
    AnomalyKind.LOST_PROCESSING: "an acknowledged input a consumer group passed over without processing",
    AnomalyKind.DUPLICATE_OUTPUT: "a transformer's input with committed output in more than one transaction, "
                                  "or more of it than one processing gives",
    AnomalyKind.LOST_OUTPUT: "a transformer's input it went past with no committed output, or only part of it",
    AnomalyKind.KEY_ORDER: "a consumer group first processed a producer's records of one key (in one topic) out of send order",
    AnomalyKind.PHANTOM: "a record read that no producer invocation wrote",
    AnomalyKind.OVERCOUNTED_STATE: "a Kafka Streams application's final count for a key is above the number of "
                                   "distinct inputs of that key (an input counted twice)",
    AnomalyKind.UNDERCOUNTED_STATE: "a Kafka Streams application's final count for a key is below the number of "
                                    "distinct inputs of that key it went past (an input not counted)",
    AnomalyKind.REPLICA_LOST_WRITE: "acknowledged by the primary (which lived), never copied to the replica by "
                                    "MirrorMaker",
    AnomalyKind.FAILOVER_REPROCESSING: "a record a consumer group had processed on the primary, read again by a "
                                       "consumer of the group failing over to the replica",
    AnomalyKind.FAILOVER_SKIP: "a record on the replica a consumer group never processed, below where a consumer "
                               "of the group failing over to the replica started",
}


class Status(StrEnum):
    """An invariant's status, declared in order of severity: the verdict is the worst of them."""

    NOT_APPLICABLE = "not-applicable"
    PASS = "pass"
    ALLOWED = "allowed"
    UNKNOWN = "unknown"  # could not be judged (missing proof, or the check itself failed)
    FAIL = "fail"

    @property
    def severity(self) -> int:
        return list(Status).index(self)


class Policy(StrEnum):
    FAIL = "fail"  # any occurrence fails the run
    ALLOWED = "allowed"  # counted and reported, never fails


class Verdict(StrEnum):
    PASS = "pass"
    VIOLATION = "violation"
    UNKNOWN = "unknown"


class Invariant(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: AnomalyKind
    status: Status
    count: int
    policy: str  # "fail", "allowed" or "at most N"
    note: str = ""


class CheckResult(BaseModel):
    """The verdict JSON (`verdict.json`): a pure function of the run directory."""

    verdict: Verdict
    semantics: str
    invariants: list[Invariant]
    anomalies: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    stats: dict[str, Any] = Field(default_factory=dict)
    errors: list[str] = Field(default_factory=list)
    damage: list[str] = Field(default_factory=list)  # damaged or missing history files: why UNKNOWN

    def invariant(self, kind: AnomalyKind) -> Invariant:
        return next(i for i in self.invariants if i.kind == kind)

    def failing(self) -> list[Invariant]:
        return [i for i in self.invariants if i.status == Status.FAIL]


PolicySetting = Policy | Literal["fail", "allowed"] | int
