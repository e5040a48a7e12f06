"""Kafka transactions as the workers drive them, every call and outcome recorded."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException, Producer

from harness.history.schema import Table, Phase
from harness.history.writer import HistoryWriter

TIMEOUT_S = 30.0
ATTEMPTS = 5


class Fenced(Exception):
    """The broker fenced this worker: a newer incarnation holds its transactional id."""


class Transactions:
    def __init__(self, producer: Producer, history: HistoryWriter, producer_id: int):
        self.producer, self.history, self.producer_id = producer, history, producer_id

    def init(self) -> None:
        try:
            self.producer.init_transactions(TIMEOUT_S)
        except KafkaException as exc:
            raise (Fenced(f"init_transactions: {exc.args[0].str()}") if exc.args[0].fatal() else exc) from None

    def begin(self, txn: int) -> None:
        self._call(self.producer.begin_transaction, txn, "begin")

    def call(self, txn: int, action: str, call) -> None:
        """Any other call inside `txn` (e.g. send_offsets_to_transaction), recorded likewise."""
        self._call(call, txn, action)

    def end(self, txn: int, commit: bool) -> bool:
        """Commit (or abort) `txn`, retrying retriable errors; True if it committed.

        A commit the broker says must be aborted is aborted. A fatal error raises Fenced.
        """
        for _ in range(ATTEMPTS):
            action, call = (("commit", self.producer.commit_transaction) if commit
                            else ("abort", self.producer.abort_transaction))
            try:
                self._call(lambda: call(TIMEOUT_S), txn, action)
                return commit
            except KafkaException as exc:  # fatal errors already became Fenced
                error = exc.args[0]
                if error.txn_requires_abort():
                    commit = False
                elif not error.retriable():
                    raise
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"transaction {txn} did not end"))

    def _call(self, call, txn: int, action: str) -> None:
        """The invocation reaches the history file before the call: a transaction the history
        shows no commit asked for was never committed, even if the worker is SIGKILLed."""
        row = dict(producer=self.producer_id, txn=txn, action=action)
        self.history.row(Table.TXNS, **row, phase=Phase.INVOKE.value)
        self.history.flush()
        try:
            call()
        except KafkaException as exc:
            self.history.row(Table.TXNS, **row, phase=Phase.FAIL.value, error=exc.args[0].name())
            if exc.args[0].fatal():
                raise Fenced(f"{action} of transaction {txn}: {exc.args[0].str()}") from None
            raise
        self.history.row(Table.TXNS, **row, phase=Phase.OK.value)
