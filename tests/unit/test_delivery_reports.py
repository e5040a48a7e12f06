"""What the producer records from librdkafka's delivery reports: which errors prove a send was
not written, and acknowledgements whose offset librdkafka made up. (Real confluent-kafka
Message and KafkaError objects, as a delivery report hands them over; no broker involved.)"""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, Message

from harness.history import values
from harness.history.load import load_history
from harness.history.schema import Table
from harness.history.writer import HistoryWriter
from harness.workload.producer import delivery_recorder


@pytest.fixture
def deliver(tmp_path):
    def record(reports, acks="all"):
        """Record delivery reports (error or None, partition, librdkafka's raw offset) of sends 0, 1, ...;
        returns the (outcome, offset) of each completion."""
        history = HistoryWriter(tmp_path / "p.1")
        on_delivery = delivery_recorder(history, 7, acks)
        for seq, (error, partition, offset) in enumerate(reports):
            on_delivery(None if error is None else KafkaError(error),
                        Message(topic="t", partition=partition, offset=offset, value=values.encode(7, seq, 0, 40)))
        columns = history.columns(Table.COMPLETIONS)
        return list(zip(columns["outcome"], columns["offset"]))

    return record


@pytest.mark.parametrize("error", [KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE,
                                   KafkaError.INVALID_RECORD, KafkaError._UNKNOWN_TOPIC,
                                   KafkaError._UNKNOWN_PARTITION, KafkaError.TOPIC_AUTHORIZATION_FAILED])
def test_refusals_every_attempt_would_meet_are_definite_failures(deliver, error):
    assert deliver([(error, 0, -1001)]) == [("fail", -1)]


@pytest.mark.parametrize("error", [KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT, KafkaError._MSG_TIMED_OUT,
                                   KafkaError.REQUEST_TIMED_OUT, KafkaError.NOT_ENOUGH_REPLICAS,
                                   KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND, KafkaError.NOT_LEADER_FOR_PARTITION,
                                   KafkaError._TRANSPORT, KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER])
def test_errors_after_which_an_earlier_attempt_may_have_been_written_are_indeterminate(deliver, error):
    """The persistence status librdkafka keeps is sticky across retries and not exposed: a message
    purged from the queue may be a retry of an attempt that was written."""
    assert deliver([(error, 0, -1001)]) == [("info", -1)]


def test_a_batch_acked_without_an_offset_has_no_offsets_though_librdkafka_numbers_it_from_minus_one(deliver):
    """DUPLICATE_SEQUENCE_NUMBER: the first ack has none (-1), the rest of the batch reads 0, 1, ...
    made up; another partition's acks and the next real batch keep theirs."""
    reports = [(None, 0, 10), (None, 0, -1), (None, 1, 4), (None, 0, 0), (None, 0, 1), (None, 0, 13), (None, 1, 5)]
    assert deliver(reports) == [("ok", 10), ("ok", -1), ("ok", 4), ("ok", -1), ("ok", -1), ("ok", 13), ("ok", 5)]


def test_acks0_records_no_offset_even_where_librdkafka_numbers_a_long_batch_up_to_zero_and_beyond(deliver):
    reports = [(None, 0, -1001 + i) for i in range(1003)]
    assert {offset for _, offset in deliver(reports, acks="0")} == {-1}


def write_producer(run_dir, client: dict, offsets: list[int], partitions: list[int]) -> None:
    history = HistoryWriter(run_dir / "history" / "p.1")
    history.describe({"kind": "producer", "name": "p", "incarnation": 1, "producer": 1, "semantics": "at-least-once",
                      "config": {}, "producer_client": client})
    n = len(offsets)
    history.write_now(Table.INVOKES, {"producer": [1] * n, "seq": list(range(n)), "txn": [0] * n, "topic": ["t"] * n,
                                      "key": [None] * n, "size": [40] * n, "source_producer": [None] * n,
                                      "source_seq": [None] * n, "mono": list(range(n)), "wall": list(range(n))})
    for seq, (offset, partition) in enumerate(zip(offsets, partitions)):
        history.row(Table.COMPLETIONS, producer=1, seq=seq, outcome="ok", partition=partition, offset=offset,
                    mono=100 + seq, wall=100 + seq)
    history.close()


def test_loading_an_older_run_forgets_offsets_its_producer_recorded_as_librdkafka_made_them_up(tmp_path):
    write_producer(tmp_path / "a", {"acks": "all", "enable.idempotence": True},
                   [7, -1, 3, 0, 1, 9, 4], [0, 0, 1, 0, 0, 0, 1])
    assert load_history(tmp_path / "a").sends["offset"].tolist() == [7, -1, 3, -1, -1, 9, 4]
    write_producer(tmp_path / "b", {"acks": "0"}, [-1, 0, 1, 2, 0], [0, 0, 0, 0, 1])
    assert load_history(tmp_path / "b").sends["offset"].tolist() == [-1] * 5
    write_producer(tmp_path / "c", {"acks": "1"}, [4, 5, 6], [0, 0, 0])
    assert load_history(tmp_path / "c").sends["offset"].tolist() == [4, 5, 6]
