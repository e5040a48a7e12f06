"""The producer worker: paced or unlimited sends, keyed by a distribution, optionally in
transactions spanning several topics, every invocation and outcome recorded."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from confluent_kafka import KafkaError, Producer

from harness.history import values
from harness.history.schema import UNKNOWN_OFFSET, SendOutcome, Table, acks
from harness.history.writer import HistoryWriter
from harness.workload.config import KeyDistribution, ProducerConfig
from harness.workload.transactions import Transactions
from harness.workload.worker import Worker, register

MAX_BATCH = 1000
FLUSH_TIMEOUT_S = 30.0

# Delivery-report errors that prove a send was never appended. librdkafka knows a message's
# persistence status (NOT_PERSISTED / POSSIBLY_PERSISTED), but confluent-kafka does not expose it,
# and the status is sticky across retries: a message whose first attempt went out and lost its
# response (possibly persisted) is retried, and its final error can be anything, even
# _PURGE_QUEUE (purge also takes retries waiting in the queues). So only errors that every
# attempt of the message would have met count: a refusal of the record itself (too large,
# invalid) or of its topic (unknown, not authorized). Anything else, timeouts, retries
# exhausted, NOT_ENOUGH_REPLICAS(_AFTER_APPEND), purges, may have been written: indeterminate.
DEFINITE_FAILURES = frozenset({
    KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE, KafkaError.INVALID_RECORD,
    KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION, KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError._INVALID_ARG,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED, KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,  # refused whole
})
NOT_SENT = "_NOT_SENT"  # invoked, but the client never accepted it (queue full at shutdown)


class Pacer:
    """How many sends are due now at `rate` per second (None: a full batch, always).

    Open loop: time spent blocked is made up afterwards, but at most one second of backlog.
    """

    def __init__(self, rate: float | None):
        self.rate = rate
        self.start: float | None = None
        self.sent = 0

    def due(self, wait: Callable[[float], object], now: Callable[[], float] = time.monotonic) -> int:
        if self.rate is None:
            return MAX_BATCH
        t = now()
        if self.start is None:
            self.start = t
        owed = int((t - self.start) * self.rate) + 1 - self.sent
        if owed > self.rate:  # more than a second behind: forget the older backlog
            self.sent += owed - int(self.rate)
            owed = int(self.rate)
        if owed <= 0:  # the next send is due at start + sent / rate
            wait(min(max(self.start + self.sent / self.rate - t, 0.001), 0.05))
            return 0
        batch = min(owed, MAX_BATCH)
        self.sent += batch
        return batch


class KeyChooser:
    """Keys from the configured distribution, drawn from a seeded generator."""

    HOT = "hot"

    def __init__(self, spec: KeyDistribution, rng: random.Random):
        self.spec, self.rng = spec, rng
        self.keys = [f"k{i}" for i in range(spec.count)]
        if spec.distribution == "hot":
            cold_share = (1 - spec.hot_share) / spec.count
            self.population = [self.HOT, *self.keys]
            self.weights = [spec.hot_share, *[cold_share] * spec.count]

    def batch(self, n: int) -> list[str | None]:
        if self.spec.distribution == "none":
            return [None] * n
        if self.spec.distribution == "uniform":
            return self.rng.choices(self.keys, k=n)
        return self.rng.choices(self.population, weights=self.weights, k=n)


@register("producer")
class ProducerWorker(Worker):
    config: ProducerConfig

    def run(self) -> None:
        cfg, pid = self.config, self.runtime.producer_id
        txn_spec = cfg.transactions
        extra = {"transactional.id": self.runtime.transactional_id} if txn_spec else {}
        producer = Producer(self.producer_config(**extra))
        transactions = Transactions(producer, self.history, pid)
        if txn_spec:
            transactions.init()
        rng = random.Random(self.runtime.seed)
        keys, pacer = KeyChooser(cfg.keys, rng), Pacer(cfg.rate)
        on_delivery = delivery_recorder(self.history, pid, acks(self.runtime.producer_client))
        padding = values.padding(cfg.value_size)
        seq = txn = in_txn = 0
        stopping = lambda: self.stopping  # noqa: E731  (made once: it runs per send)
        while not self.stopping and (cfg.messages is None or seq < cfg.messages):
            n = pacer.due(producer.poll)
            if cfg.messages is not None:
                n = min(n, cfg.messages - seq)
            if txn_spec:
                if n and in_txn == 0:
                    txn += 1
                    transactions.begin(txn)
                n = min(n, txn_spec.size - in_txn)
            if n == 0:
                continue
            batch_keys = keys.batch(n)
            topics = [cfg.topics[(seq + i) % len(cfg.topics)] for i in range(n)]
            record_invocations(self.history, pid, seq, txn, topics, batch_keys, cfg.value_size)
            messages = [message(pid, seq + i, txn, padding, batch_keys[i]) for i in range(n)]
            for seqs, error in produce(producer, topics, messages, on_delivery, stopping):
                record_not_sent(self.history, pid, seqs, error)
            seq += n
            in_txn += n
            if txn_spec and in_txn >= txn_spec.size:
                end_transaction(producer, transactions, txn, commit=rng.random() >= txn_spec.abort_ratio)
                in_txn = 0
            producer.poll(0)
            self.history.maybe_flush()
        if txn_spec and in_txn:
            end_transaction(producer, transactions, txn, commit=rng.random() >= txn_spec.abort_ratio)
        drain(producer)


def end_transaction(producer: Producer, transactions: Transactions, txn: int, commit: bool) -> None:
    """End a transaction as planned. A deliberate abort first waits for the sends, so aborted
    records reach the log (for read_uncommitted to see) and the abort cannot overtake the
    transaction's registration at the coordinator (librdkafka #4849: INVALID_TXN_STATE)."""
    if not commit:
        producer.flush(FLUSH_TIMEOUT_S)
    transactions.end(txn, commit)


def record_invocations(history: HistoryWriter, pid: int, first_seq: int, txn: int, topics: list[str],
                       keys: list[str | None], size: int,
                       sources: list[tuple[int, int] | None] | None = None) -> None:
    """Write one invocation per topic (seqs from `first_seq`) before the sends reach the client."""
    n = len(topics)
    mono, wall = time.monotonic_ns(), time.time_ns()
    sources = sources or [None] * n
    history.write_now(Table.INVOKES, {
        "producer": [pid] * n, "seq": list(range(first_seq, first_seq + n)), "txn": [txn] * n,
        "topic": topics, "key": keys, "size": [size] * n,
        "source_producer": [s[0] if s else None for s in sources],
        "source_seq": [s[1] if s else None for s in sources],
        "mono": [mono] * n, "wall": [wall] * n,
    })


def delivery_recorder(history: HistoryWriter, pid: int, acks_setting: str | None = "all"):
    """A delivery callback appending straight to the buffered completion columns (hot path).

    An ack's offset is recorded as UNKNOWN_OFFSET when librdkafka has none: always under acks=0
    (no response; it numbers the batch from -1001, so a long one seems to land at 0, 1, ...), and
    for an idempotent retry answered DUPLICATE_SEQUENCE_NUMBER, whose batch it numbers from -1:
    the first ack has no offset, the next ones in that partition read 0, 1, ... and are as made up."""
    columns = history.columns(Table.COMPLETIONS)
    c_producer, c_seq, c_outcome = columns["producer"], columns["seq"], columns["outcome"]
    c_partition, c_offset, c_error = columns["partition"], columns["offset"], columns["error"]
    c_mono, c_wall = columns["mono"], columns["wall"]
    seq_slice = values.SEQ
    ok, fail, info = SendOutcome.OK.value, SendOutcome.FAIL.value, SendOutcome.INFO.value
    offsets_real = acks_setting != "0"
    made_up: dict[int, int] = {}  # partition -> the made-up offset the next ack of its batch would carry

    def on_delivery(err, msg) -> None:  # values first, then the appends: never half a row
        mono, wall, seq = time.monotonic_ns(), time.time_ns(), int(msg.value()[seq_slice])
        if err is None:
            partition, offset, outcome, error = msg.partition(), msg.offset(), ok, None
            if offset is None or not offsets_real:
                offset, made_up[partition] = UNKNOWN_OFFSET, 0
            elif made_up and made_up.get(partition) == offset:
                offset, made_up[partition] = UNKNOWN_OFFSET, offset + 1
            elif made_up:
                made_up.pop(partition, None)
        else:
            partition = msg.partition()  # None for a send purged before it had one
            outcome = fail if err.code() in DEFINITE_FAILURES else info
            partition, offset, error = (partition if partition is not None and partition >= 0 else -1), -1, err.name()
        c_producer.append(pid)
        c_seq.append(seq)
        c_outcome.append(outcome)
        c_partition.append(partition)
        c_offset.append(offset)
        c_error.append(error)
        c_mono.append(mono)
        c_wall.append(wall)

    return on_delivery


def record_not_sent(history: HistoryWriter, pid: int, seqs, error: str) -> None:
    """Sends invoked but never accepted by the client: definite failures."""
    for seq in seqs:
        history.row(Table.COMPLETIONS, producer=pid, seq=seq, outcome=SendOutcome.FAIL.value,
                    partition=-1, offset=-1, error=error)


def message(pid: int, seq: int, txn: int, padding: bytes, key: str | None) -> dict:
    """One send for produce_batch; its value names the invocation (harness.history.values)."""
    value = b"kc:%06d:%012d:%09d:%s" % (pid, seq, txn, padding)
    return {"value": value} if key is None else {"value": value, "key": key}


def produce(producer: Producer, topics: list[str], messages: list[dict], on_delivery,
            stopping: Callable[[], bool]) -> list[tuple[list[int], str]]:
    """Hand a batch of sends to the client (produce_batch: half the CPU of produce() per send),
    waiting out a full queue. Returns the sends it refused, by sequence number, with why: the
    client's error (e.g. a value over message.max.bytes), or NOT_SENT when stopped while the
    queue stayed full."""
    by_topic: dict[str, list[dict]] = {}
    for topic, message in zip(topics, messages):
        by_topic.setdefault(topic, []).append(message)
    refused = []
    for topic, pending in by_topic.items():
        while pending:
            producer.produce_batch(topic, pending, on_delivery=on_delivery)
            failed = [m for m in pending if "_error" in m]
            full = [m for m in failed if m["_error"].code() == KafkaError._QUEUE_FULL]
            for m in failed:
                if m["_error"].code() != KafkaError._QUEUE_FULL:
                    refused.append(([int(m["value"][values.SEQ])], m.pop("_error").name()))
            if full and stopping():
                refused.append(([int(m["value"][values.SEQ]) for m in full], NOT_SENT))
                break
            for m in full:
                del m["_error"]
            if full:
                producer.poll(0.05)
            pending = full
    return refused


def drain(producer: Producer) -> None:
    """Wait for outstanding deliveries; purge what is left so each gets an outcome."""
    if producer.flush(FLUSH_TIMEOUT_S) > 0:
        producer.purge(in_queue=True, in_flight=True, blocking=False)
        producer.flush(5)
