"""Kafka-protocol faults on the client path: a chosen API's responses delayed, dropped (the
connection closes after the broker did the work), or answered with a chosen error code (the
broker's real response, its error codes rewritten). Clients reach the brokers through the
Kafka-protocol proxy (the faults provision it; harness/kafkaproxy/), which reads each request's
api key and version, so only the chosen API is touched.

Left behind by a dead harness: rules in the proxy (the sweep clears them).
"""

from __future__ import annotations

import uuid
from typing import Annotated, ClassVar, Literal

from confluent_kafka import KafkaError
from pydantic import AfterValidator, Field

from harness.cluster.backend import Backend, Capability
from harness.faults.base import Env, FaultError, FaultSpec, Injected, Provisions, fault, node_list, sweep
from harness.faults.targets import Target
from harness.limits import Millis

# Kafka's api keys (org.apache.kafka.common.protocol.ApiKeys) of the APIs clients use.
API_KEYS = {
    "Produce": 0, "Fetch": 1, "ListOffsets": 2, "Metadata": 3, "OffsetCommit": 8, "OffsetFetch": 9,
    "FindCoordinator": 10, "JoinGroup": 11, "Heartbeat": 12, "LeaveGroup": 13, "SyncGroup": 14,
    "DescribeGroups": 15, "ListGroups": 16, "ApiVersions": 18, "CreateTopics": 19, "DeleteTopics": 20,
    "DeleteRecords": 21, "InitProducerId": 22, "OffsetForLeaderEpoch": 23, "AddPartitionsToTxn": 24,
    "AddOffsetsToTxn": 25, "EndTxn": 26, "TxnOffsetCommit": 28, "DescribeConfigs": 32, "DescribeCluster": 60,
    "DescribeProducers": 61, "DescribeTransactions": 65, "ListTransactions": 66, "ConsumerGroupHeartbeat": 68,
    "ConsumerGroupDescribe": 69, "GetTelemetrySubscriptions": 71, "PushTelemetry": 72,
}
Api = Literal[tuple(API_KEYS)]  # type: ignore[valid-type]


# Kafka's names (org.apache.kafka.common.protocol.Errors) where librdkafka's differ or are missing;
# any other broker error librdkafka names (confluent_kafka.KafkaError) is accepted too.
KAFKA_ERRORS = {
    "UNKNOWN_SERVER_ERROR": -1, "NOT_LEADER_OR_FOLLOWER": 6, "REQUEST_TIMED_OUT": 7, "NETWORK_EXCEPTION": 13,
    "COORDINATOR_LOAD_IN_PROGRESS": 14, "COORDINATOR_NOT_AVAILABLE": 15, "NOT_COORDINATOR": 16,
    "NOT_ENOUGH_REPLICAS": 19, "NOT_ENOUGH_REPLICAS_AFTER_APPEND": 20, "REBALANCE_IN_PROGRESS": 27,
    "OUT_OF_ORDER_SEQUENCE_NUMBER": 45, "DUPLICATE_SEQUENCE_NUMBER": 46, "INVALID_PRODUCER_EPOCH": 47,
    "INVALID_TXN_STATE": 48, "CONCURRENT_TRANSACTIONS": 51, "KAFKA_STORAGE_ERROR": 56, "UNKNOWN_PRODUCER_ID": 59,
    "FENCED_LEADER_EPOCH": 74, "UNKNOWN_LEADER_EPOCH": 75, "PRODUCER_FENCED": 90, "TRANSACTION_ABORTABLE": 120,
}


def error_code(name: str) -> int | None:
    if name in KAFKA_ERRORS:
        return KAFKA_ERRORS[name]
    code = getattr(KafkaError, name, None)
    return code if isinstance(code, int) and code > 0 and not name.startswith("_") else None


def _error_code(name: str) -> str:
    if error_code(name) is None:
        raise ValueError(f"{name!r} is not a Kafka error name (e.g. NOT_LEADER_OR_FOLLOWER)")
    return name


ErrorName = Annotated[str, AfterValidator(_error_code)]


class ProtocolFault(FaultSpec):
    """Shared by the protocol faults: which APIs, on whose client path, how often."""

    needs: ClassVar = frozenset({Capability.PROTOCOL})
    apis: list[Api] = Field(min_length=1, description="e.g. [Produce], [EndTxn, TxnOffsetCommit]")
    target: Target = Field(Target(pick="all"), description="the brokers whose client path it acts on")
    share: float = Field(1.0, gt=0, le=1, description="of the matching responses acted on")

    action: ClassVar[str]

    def provisions(self) -> Provisions:
        return Provisions(protocol_proxy=True)

    def settings(self) -> dict:
        return {}

    def describe(self) -> str:
        raise NotImplementedError

    def inject(self, env: Env) -> Injected:
        protocol = env.protocol
        if not protocol.protocol_proxied():
            raise FaultError(f"{self.fault} needs the cluster started with the Kafka-protocol proxy (proxy.kafka)")
        ids = self.target.resolve(env)
        tag = f"{self.fault}-{uuid.uuid4().hex[:8]}"
        rule = {"tag": tag, "apis": sorted(API_KEYS[a] for a in self.apis), "action": self.action,
                "share": self.share, **self.settings()}
        applied = [protocol.add_protocol_rule(node, rule) for node in ids]

        def heal() -> str:
            return f"removed {protocol.remove_protocol_rules(tag)} protocol rules"

        share = f" ({self.share:.0%} of them)" if self.share < 1 else ""
        return Injected(f"{self.describe()}{share} on the client path of {node_list(ids)}", ids, applied, heal)


@fault
class DelayResponse(ProtocolFault):
    """The chosen APIs' responses are held `ms` (and the responses behind them on the connection)."""

    fault: Literal["delay-response"] = "delay-response"
    action: ClassVar[str] = "delay"
    ms: Millis

    def settings(self) -> dict:
        return {"delay_ms": self.ms}

    def describe(self) -> str:
        return f"{', '.join(self.apis)} responses delayed {self.ms} ms"


@fault
class DropResponse(ProtocolFault):
    """The broker does the work; its response never reaches the client, whose connection closes."""

    fault: Literal["drop-response"] = "drop-response"
    action: ClassVar[str] = "drop"

    def describe(self) -> str:
        return f"{', '.join(self.apis)} responses dropped (connection closed)"


@fault
class ErrorResponse(ProtocolFault):
    """The broker does the work; the client hears `error` (every error code of the response)."""

    fault: Literal["error-response"] = "error-response"
    action: ClassVar[str] = "error"
    error: ErrorName = Field(description="a Kafka error name, e.g. NOT_LEADER_OR_FOLLOWER")

    def settings(self) -> dict:
        return {"error_code": error_code(self.error)}

    def describe(self) -> str:
        return f"{', '.join(self.apis)} answered {self.error}"


@sweep(Capability.PROTOCOL)
def protocol_rules(cluster: Backend) -> list[str]:
    return cluster.sweep_protocol_rules()
