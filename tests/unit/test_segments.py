"""The segment-file reader on segments real Kafka 4.4 wrote (tests/fixtures, made on a one-node
cluster): txn.log holds three transactions of 10 values by producer 1 (two aborted), each
followed by its marker; lz4.log one lz4-compressed transaction."""

from __future__ import annotations

from pathlib import Path

from harness.cluster.segments import records
from harness.history.values import decode

FIXTURES = Path(__file__).parent.parent / "fixtures"
TXN_OFFSETS = [*range(0, 10), *range(11, 21), *range(22, 32)]  # 10, 21 and 32 are markers


def test_every_value_at_its_offset_and_no_transaction_marker():
    found, compressed = records(FIXTURES / "txn.log")
    assert compressed == 0
    assert [offset for offset, _, _ in found] == TXN_OFFSETS
    assert [decode(value) for _, _, value in found] == [(1, seq, 1 + seq // 10) for seq in range(30)]
    assert {epoch for _, epoch, _ in found} == {0}


def test_a_torn_tail_ends_the_segment_at_the_last_whole_batch(tmp_path):
    data = (FIXTURES / "txn.log").read_bytes()
    torn = tmp_path / "torn.log"
    seen = set()
    for cut in range(0, len(data), 7):  # a node killed mid-write leaves any prefix
        torn.write_bytes(data[:cut])
        offsets = [offset for offset, _, _ in records(torn)[0]]
        assert offsets == TXN_OFFSETS[:len(offsets)], f"cut at {cut}"
        seen.add(len(offsets))
    assert {0, 30} < seen, "some cuts keep part of the values"


def test_compressed_batches_are_counted_not_misread():
    found, compressed = records(FIXTURES / "lz4.log")
    assert found == [] and compressed == 1


def test_bytes_that_are_no_segment_give_nothing(tmp_path):
    junk = tmp_path / "junk.log"
    junk.write_bytes(b"kc:000001:000000000001:000000000:" * 10)
    assert records(junk) == ([], 0)
