"""The checker on hand-built histories: every anomaly kind found with its evidence, and the
near misses that must not be reported."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from harness.checker.check import check, write_verdict
from harness.checker import registry
from harness.checker.check import to_json
from harness.checker.model import AnomalyKind, Verdict
from harness.history import disk
from tests.histories import MARKER, Read, Run


def run_check(run: Run, tmp_path, **kwargs):
    return check(run.write(tmp_path), **kwargs)


def counts(result) -> dict[str, int]:
    return {i.kind.value: i.count for i in result.invariants if i.count}


def evidence(result, kind: str) -> list[dict]:
    return result.anomalies[kind]


# ---- lost-write and unseen -----------------------------------------------------------------


def lost_write_run() -> Run:
    run = Run()
    run.send(1, 0)
    lost = run.send(1, 1)
    run.send(1, 2)
    replacement = run.send(2, 0, outcome="pending", in_log=False)
    run.log[("t", 0)][lost.offset] = replacement.vid  # truncated on failover, offset re-used
    run.final_reads()
    return run


def test_lost_write_is_found_with_its_evidence(tmp_path):
    result = run_check(lost_write_run(), tmp_path)
    # offset 1 was acknowledged as p1:1 and later read as p2:0: that is an inconsistent offset too
    assert counts(result) == {"lost-write": 1, "inconsistent-offsets": 1}
    assert result.verdict == Verdict.VIOLATION
    [lost] = evidence(result, "lost-write")
    assert lost["value"] == "p1:1" and lost["acked_offset"] == 1 and lost["sender"] == "p1.1"
    assert {f["reader"]: f["proven_end"] for f in lost["final_reads"]} == {
        "final-read-committed": 3, "final-read-uncommitted": 3}
    assert "no reader ever saw it" in lost["explanation"]


def test_lost_write_evidence_tells_what_happened_to_its_partition_long_after(tmp_path):
    run = lost_write_run()
    acked = run.sends[1].complete
    events = [("fault", None, acked - 10**9, "node 1 isolated"),
              ("observer", 1, acked + 10**9, "t-1 leader 1 → 2 (epoch 1)"),  # another partition
              ("observer", 0, acked + 60 * 10**9, "t-0 leader 1 → 2 (epoch 1)"),  # the truncating failover
              ("observer", 0, acked + 300 * 10**9, "t-0 leader 2 → 3 (epoch 2)")]  # long after: unrelated
    run.write(tmp_path)
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(
        {"mono": mono, "wall": mono, "source": source, "kind": "event", "text": text,
         **({"topic": "t", "partition": partition} if partition is not None else {})}) + "\n"
        for source, partition, mono, text in events))
    [lost] = evidence(check(tmp_path), "lost-write")
    told = [line.split(" ", 1)[1] for line in lost["cluster"]]
    assert told == ["node 1 isolated", "t-0 leader 1 → 2 (epoch 1)"]


def disk_scan(tmp_path, copies: list[tuple[int, int, int]]) -> None:
    """What a scan of nodes 1-3's segment files of t-0 found: (node, offset, vid) of each copy."""
    scanned = [{"node": n, "topic": "t", "partition": 0, "replica": True, "records": 3, "compressed_batches": 0}
               for n in (1, 2, 3)]
    values = pd.DataFrame([(n, "t", 0, o, 1, v) for n, o, v in copies],
                          columns=["node", "topic", "partition", "offset", "leader_epoch", "vid"])
    disk.write(tmp_path, scanned, values)


def test_a_lost_write_no_replica_stores_is_lost_on_disk(tmp_path):
    run = lost_write_run()
    run.write(tmp_path)
    disk_scan(tmp_path, [(n, o, v) for n in (1, 2, 3) for o, v in enumerate(run.log[("t", 0)])])
    [lost] = evidence(check(tmp_path), "lost-write")
    assert lost["explanation"].endswith("no replica's log holds it any more (lost on disk)")
    assert lost["on_disk"] == [f"node {n}: absent from its 3 records" for n in (1, 2, 3)]


def test_a_lost_write_still_in_a_segment_file_is_lost_in_reading(tmp_path):
    run = lost_write_run()
    run.write(tmp_path)
    lost_vid = run.sends[1].vid
    disk_scan(tmp_path, [(3, 1, lost_vid)])
    [lost] = evidence(check(tmp_path), "lost-write")
    assert lost["explanation"].endswith("still on disk (node 3: at offset 1 (leader epoch 1))")
    assert lost["on_disk"][1:] == ["node 1: absent from its 3 records", "node 2: absent from its 3 records"]
    assert counts(check(tmp_path)) == {"lost-write": 1, "inconsistent-offsets": 1}


def test_absent_indeterminate_write_is_not_lost(tmp_path):
    run = Run()
    run.send(1, 0)
    run.send(1, 1, outcome="info", in_log=False)  # timed out, never written
    run.send(1, 2, outcome="pending", in_log=False)  # the producer was killed
    run.final_reads()
    assert counts(run_check(run, tmp_path)) == {}


def test_present_indeterminate_write_is_not_wrong(tmp_path):
    run = Run()
    run.send(1, 0, outcome="info")  # timed out, but it was written after all
    run.final_reads()
    assert counts(run_check(run, tmp_path)) == {}


def test_missing_write_beyond_the_proven_end_is_unseen_not_lost(tmp_path):
    run = Run()
    run.send(1, 0)
    beyond = run.send(1, 1)
    run.send(1, 2, partition=1)
    run.final_reads()
    for isolation in ("read_committed", "read_uncommitted"):
        final = run.final(isolation)
        final.reads = [r for r in final.reads if (r.partition, r.offset) != (0, beyond.offset)]
        final.proofs[("t", 0)] = (0, 2, -1)  # target 2, never reached
    result = run_check(run, tmp_path)
    assert counts(result) == {"unseen": 1}
    assert result.verdict == Verdict.PASS  # unseen is not proof of loss


def test_nothing_proven_makes_loss_unknown(tmp_path):
    run = Run()
    run.send(1, 0)
    run.final_reads()
    for isolation in ("read_committed", "read_uncommitted"):
        run.final(isolation).proofs[("t", 0)] = (0, 1, -1)
    result = run_check(run, tmp_path)
    assert result.invariant(AnomalyKind.LOST_WRITE).status == "unknown"
    assert result.verdict == Verdict.UNKNOWN


def test_value_read_by_a_consumer_then_truncated_is_not_lost_but_inconsistent(tmp_path):
    run = Run()
    run.send(1, 0)
    gone = run.send(1, 1)
    consumer = run.reader("c1", "consumer", "read_uncommitted", group="g")
    run.consume(consumer, [("t", 0, 0), ("t", 0, 1)])
    replacement = run.send(2, 0, outcome="pending", in_log=False)
    run.log[("t", 0)][gone.offset] = replacement.vid
    run.final_reads()
    result = run_check(run, tmp_path)
    assert counts(result) == {"inconsistent-offsets": 1}
    [clash] = evidence(result, "inconsistent-offsets")
    assert clash["offset"] == 1 and clash["values"] == ["p1:1", "p2:0"]


# ---- the log ------------------------------------------------------------------------------


def test_duplicate_is_a_value_at_two_offsets(tmp_path):
    run = Run()
    twice = run.send(1, 0)
    run.send(1, 1)
    run.append("t", 0, twice.vid)
    run.final_reads()
    result = run_check(run, tmp_path)
    assert counts(result) == {"duplicate": 1}
    [dup] = evidence(result, "duplicate")
    assert dup["value"] == "p1:0" and dup["found_at"] == ["0@0", "0@2"]
    assert run_check(run, tmp_path / "again", semantics=None).invariant(AnomalyKind.DUPLICATE).status == "allowed"


def test_one_value_read_twice_at_one_offset_is_no_duplicate(tmp_path):
    run = Run()
    run.send(1, 0)
    for name in ("c1", "c2"):
        run.consume(run.reader(name, "consumer", "read_uncommitted", group=name), [("t", 0, 0)])
    run.final_reads()
    assert counts(run_check(run, tmp_path)) == {}


def test_phantom_is_a_value_nobody_sent(tmp_path):
    run = Run()
    run.send(1, 0)
    run.append("t", 0, b"written by someone else")
    run.final_reads()
    result = run_check(run, tmp_path)
    assert counts(result) == {"phantom": 1}  # one record, however many readers saw it
    assert "b'written by someone else'" in evidence(result, "phantom")[0]["value"]


def test_nonmonotonic_send(tmp_path):
    run = Run()
    first, second = run.send(1, 0), run.send(1, 1)
    run.log[("t", 0)] = [second.vid, first.vid]
    first.offset, second.offset = 1, 0
    run.final_reads()
    result = run_check(run, tmp_path)
    assert counts(result) == {"nonmonotonic-send": 1}
    [bad] = evidence(result, "nonmonotonic-send")
    assert (bad["earlier"], bad["earlier_offset"], bad["later"], bad["later_offset"]) == ("p1:0", 1, "p1:1", 0)


def test_sends_to_different_partitions_have_no_mutual_order(tmp_path):
    run = Run()
    run.send(1, 0, partition=1)
    run.send(1, 1, partition=0)
    run.send(1, 2, partition=1)
    run.final_reads()
    assert counts(run_check(run, tmp_path)) == {}


# ---- readers -------------------------------------------------------------------------------


def test_poll_skip_over_a_visible_record(tmp_path):
    run = Run()
    for seq in range(3):
        run.send(1, seq, outcome="pending")  # indeterminate: skipping them loses no acked input
    consumer = run.reader("c1", "consumer", "read_uncommitted", group="g")
    run.consume(consumer, [("t", 0, 0), ("t", 0, 2)])
    run.final_reads()
    result = run_check(run, tmp_path)
    assert counts(result) == {"poll-skip": 1}
    [skip] = evidence(result, "poll-skip")
    assert (skip["reader"], skip["from_offset"], skip["to_offset"]) == ("c1.1", 0, 2)


def test_gap_of_a_transaction_marker_is_no_skip(tmp_path):
    run = Run()
    run.send(1, 0, txn=1)
    run.end_txn(1, 1, "committed")
    run.send(1, 1, txn=2)
    run.end_txn(1, 2, "committed")
    consumer = run.reader("c1", "consumer", "read_committed", group="g")
    run.consume(consumer, [("t", 0, 0), ("t", 0, 2)])  # offset 1 is the first commit marker
    assert run.log[("t", 0)][1] == MARKER
    run.final_reads()
    assert counts(run_check(run, tmp_path)) == {}


def test_gap_of_aborted_records_is_no_skip_for_read_committed(tmp_path):
    run = Run()
    run.send(1, 0)
    run.send(2, 0, txn=1)
    run.end_txn(2, 1, "aborted")
    run.send(1, 1)
    consumer = run.reader("c1", "consumer", "read_committed", group="g")
    run.consume(consumer, [("t", 0, 0), ("t", 0, 3)])
    run.final_reads()
    assert counts(run_check(run, tmp_path)) == {}


def test_going_back_within_a_generation_is_nonmonotonic_poll(tmp_path):
    run = Run()
    run.send(1, 0, outcome="pending")
    run.send(1, 1, outcome="pending")
    consumer = run.reader("c1", "consumer", "read_uncommitted", group="g")
    run.consume(consumer, [("t", 0, 0), ("t", 0, 1), ("t", 0, 0)])
    run.final_reads()
    result = run_check(run, tmp_path)
    assert counts(result) == {"nonmonotonic-poll": 1}
    assert evidence(result, "nonmonotonic-poll")[0]["to_offset"] == 0


def test_reread_after_a_rebalance_is_duplicate_processing_not_nonmonotonic_poll(tmp_path):
    run = Run()
    run.send(1, 0)
    run.send(1, 1)
    consumer = run.reader("c1", "consumer", "read_uncommitted", group="g")
    run.consume(consumer, [("t", 0, 0), ("t", 0, 1)], generation=1)
    run.consume(consumer, [("t", 0, 1)], generation=2)  # resumed from the last commit
    run.final_reads()
    result = run_check(run, tmp_path)
    assert counts(result) == {"duplicate-processing": 1}
    [dup] = evidence(result, "duplicate-processing")
    assert dup["value"] == "p1:1" and [r["generation"] for r in dup["reads"] if r["reader"] == "c1.1"] == [1, 2]
    assert result.verdict == Verdict.PASS  # at-least-once allows it


def test_duplicate_processing_fails_at_most_once(tmp_path):
    run = Run(semantics="at-most-once")
    run.send(1, 0)
    consumer = run.reader("c1", "consumer", "read_uncommitted", group="g")
    run.consume(consumer, [("t", 0, 0)], generation=1)
    run.consume(consumer, [("t", 0, 0)], generation=2)
    run.final_reads()
    result = run_check(run, tmp_path)
    assert result.invariant(AnomalyKind.DUPLICATE_PROCESSING).status == "fail"
    assert result.verdict == Verdict.VIOLATION


def test_two_groups_each_processing_once_is_no_duplicate(tmp_path):
    run = Run()
    run.send(1, 0)
    for group in ("g1", "g2"):
        run.consume(run.reader(f"c-{group}", "consumer", "read_uncommitted", group=group), [("t", 0, 0)])
    run.final_reads()
    assert counts(run_check(run, tmp_path)) == {}


def lost_processing_run(semantics: str) -> Run:
    run = Run(semantics)
    for seq in range(3):
        run.send(1, seq)
    consumer = run.reader("c1", "consumer", "read_uncommitted", group="g")
    run.consume(consumer, [("t", 0, 0)], generation=1)
    consumer.commits.append(("t", 0, 2, run.tick()))  # committed before processing offset 1, then crashed
    run.consume(consumer, [("t", 0, 2)], generation=2)
    run.final_reads()
    return run


def test_lost_processing_fails_at_least_once(tmp_path):
    result = run_check(lost_processing_run("at-least-once"), tmp_path)
    assert counts(result) == {"lost-processing": 1}
    assert evidence(result, "lost-processing")[0]["value"] == "p1:1"
    assert result.verdict == Verdict.VIOLATION


def test_lost_processing_is_allowed_at_most_once(tmp_path):
    result = run_check(lost_processing_run("at-most-once"), tmp_path)
    assert result.invariant(AnomalyKind.LOST_PROCESSING).status == "allowed"
    assert result.verdict == Verdict.PASS


def test_records_after_a_consumer_stopped_are_not_lost_processing(tmp_path):
    run = Run()
    for seq in range(3):
        run.send(1, seq)
    consumer = run.reader("c1", "consumer", "read_uncommitted", group="g")
    run.consume(consumer, [("t", 0, 0)])
    consumer.commits.append(("t", 0, 1, run.tick()))
    run.final_reads()
    assert counts(run_check(run, tmp_path)) == {}


# ---- transactions --------------------------------------------------------------------------


def test_aborted_read(tmp_path):
    run = Run()
    aborted = run.send(1, 0, txn=1)
    run.end_txn(1, 1, "aborted")
    consumer = run.reader("c1", "consumer", "read_committed", group="g")
    run.consume(consumer, [("t", 0, aborted.offset)])
    run.final_reads()
    result = run_check(run, tmp_path)
    assert counts(result) == {"aborted-read": 1}
    [read] = evidence(result, "aborted-read")
    assert read["reader"] == "c1.1" and read["transaction_outcome"] == "aborted"


def test_read_uncommitted_may_see_aborted_records(tmp_path):
    run = Run()
    aborted = run.send(1, 0, txn=1)
    run.end_txn(1, 1, "aborted")
    run.consume(run.reader("c1", "consumer", "read_uncommitted", group="g"), [("t", 0, aborted.offset)])
    run.final_reads()
    assert counts(run_check(run, tmp_path)) == {}


def test_never_committed_transaction_seen_by_read_committed_is_aborted_read(tmp_path):
    run = Run()
    record = run.send(1, 0, txn=1)
    run.end_txn(1, 1, "unfinished")  # the producer died before asking to commit
    run.final_reads()
    run.final("read_committed").reads.append(Read("t", 0, record.offset, record.vid, generation=0, at=run.tick()))
    assert counts(run_check(run, tmp_path)) == {"aborted-read": 1}


def test_committed_transaction_partly_visible_is_torn_not_lost(tmp_path):
    run = Run()
    run.send(1, 0, txn=1)
    run.send(1, 1, txn=1, partition=1)
    run.end_txn(1, 1, "committed")
    run.final_reads()
    for isolation in ("read_committed", "read_uncommitted"):
        final = run.final(isolation)
        final.reads = [r for r in final.reads if r.partition != 1]
    result = run_check(run, tmp_path)
    assert counts(result) == {"torn-transaction": 1}
    [torn] = evidence(result, "torn-transaction")
    assert (torn["visible"], torn["records_in_reach"], torn["missing"]) == (1, 2, ["p1:1"])


def test_partial_read_of_an_indeterminate_transaction_proves_it_committed(tmp_path):
    run = Run()
    run.send(1, 0, txn=1)
    run.send(1, 1, txn=1)
    run.end_txn(1, 1, "indeterminate")  # commit asked, no answer
    run.final_reads()
    seen = run.final("read_committed")
    seen.reads = [Read("t", 0, 0, (1 << 40) | 0, generation=0, at=run.tick())]  # only the first record
    run.final("read_uncommitted").reads = list(seen.reads)
    result = run_check(run, tmp_path)
    assert counts(result) == {"torn-transaction": 1}


def test_unread_indeterminate_transaction_is_neither_lost_nor_torn(tmp_path):
    run = Run()
    run.send(1, 0, txn=1)
    run.end_txn(1, 1, "indeterminate")
    run.final_reads()
    for isolation in ("read_committed", "read_uncommitted"):
        run.final(isolation).reads = []
    assert counts(run_check(run, tmp_path)) == {}


# ---- transformers --------------------------------------------------------------------------


def transformer_run(second_outcome: str) -> Run:
    run = Run("exactly-once")
    source = run.send(9, 0, topic="in")
    transformer = run.reader("x1", "transformer", "read_committed", group="gx", topics=("in",), output="out",
                             producer=8)
    for txn, outcome in ((1, "committed"), (2, second_outcome)):
        transformer.reads.append(Read("in", 0, source.offset, source.vid, generation=txn, at=run.tick(), in_txn=txn))
        run.send(8, txn - 1, topic="out", txn=txn, source=(9, 0))
        run.end_txn(8, txn, outcome)
    run.final_reads()
    return run


def test_input_with_output_in_two_committed_transactions_is_duplicate_output(tmp_path):
    result = run_check(transformer_run("committed"), tmp_path)
    assert counts(result) == {"duplicate-output": 1}
    [bad] = evidence(result, "duplicate-output")
    assert (bad["input"], bad["committed_outputs"], bad["in_transactions"]) == ("p9:0", 2, 2)
    assert result.verdict == Verdict.VIOLATION  # exactly-once


def test_duplicate_output_is_allowed_at_least_once(tmp_path):
    run = transformer_run("committed")
    run.semantics = "at-least-once"
    result = run_check(run, tmp_path)
    assert result.invariant(AnomalyKind.DUPLICATE_OUTPUT).status == "allowed"
    assert result.verdict == Verdict.PASS


def test_reprocessing_after_an_abort_is_exactly_once(tmp_path):
    assert counts(run_check(transformer_run("aborted"), tmp_path)) == {}


def test_input_without_committed_output_is_lost_output(tmp_path):
    run = Run("exactly-once")
    processed, missed = run.send(9, 0, topic="in"), run.send(9, 1, topic="in")
    transformer = run.reader("x1", "transformer", "read_committed", group="gx", topics=("in",), output="out",
                             producer=8)
    transformer.reads.append(Read("in", 0, processed.offset, processed.vid, at=run.tick(), in_txn=1))
    transformer.reads.append(Read("in", 0, missed.offset, missed.vid, at=run.tick(), in_txn=1))
    run.send(8, 0, topic="out", txn=1, source=(9, 0))  # no output for the second input
    run.end_txn(8, 1, "committed")
    run.final_reads()
    result = run_check(run, tmp_path)
    assert counts(result) == {"lost-output": 1}
    assert evidence(result, "lost-output")[0]["input"] == "p9:1"


# ---- the verdict ---------------------------------------------------------------------------


def test_rechecking_gives_identical_json(tmp_path):
    run_dir = lost_write_run().write(tmp_path)
    first, second = to_json(check(run_dir)), to_json(check(run_dir))
    assert first == second
    assert write_verdict(run_dir, check(run_dir)).read_text() == first


def test_overrides_change_what_fails(tmp_path):
    run = Run()
    twice = run.send(1, 0)
    run.append("t", 0, twice.vid)
    run.final_reads()
    run_dir = run.write(tmp_path)
    assert check(run_dir).verdict == Verdict.PASS  # duplicates allowed at-least-once
    assert check(run_dir, overrides={AnomalyKind.DUPLICATE: "fail"}).verdict == Verdict.VIOLATION
    assert check(run_dir, overrides={AnomalyKind.DUPLICATE: 1}).verdict == Verdict.PASS
    assert check(run_dir, overrides={AnomalyKind.DUPLICATE: 0}).verdict == Verdict.VIOLATION


def test_a_check_that_crashes_gives_unknown_never_pass(tmp_path, monkeypatch):
    run_dir = lost_write_run().write(tmp_path)

    def broken(ctx):
        raise RuntimeError("bug in a check")

    kinds = next(k for k in registry.CHECKS if AnomalyKind.PHANTOM in k)
    monkeypatch.setitem(registry.CHECKS, kinds, broken)
    result = check(run_dir)
    assert result.invariant(AnomalyKind.PHANTOM).status == "unknown"
    assert result.verdict == Verdict.VIOLATION  # the lost write still fails it
    assert any("bug in a check" in e for e in result.errors)


def test_stats_summarise_outcomes_and_unavailability(tmp_path):
    run = Run()
    for seq in range(5):
        run.send(1, seq)
    run.clock += 3_000_000_000  # three seconds with nothing acknowledged
    run.send(1, 5)
    run.send(1, 6, outcome="info", in_log=False)
    run.final_reads()
    stats = run_check(run, tmp_path).stats
    assert (stats["sends"], stats["acked"], stats["indeterminate"]) == (7, 6, 1)
    assert stats["longest_unavailability"]["seconds"] == pytest.approx(3.002, abs=0.01)


# ---- per-key order -------------------------------------------------------------------------


def test_key_processed_out_of_send_order_across_partitions(tmp_path):
    run = Run()
    earlier = run.send(1, 0, partition=0, key="acct-7")
    later = run.send(1, 1, partition=1, key="acct-7")  # partitions were added: the key moved
    consumer = run.reader("c1", "consumer", "read_uncommitted", group="g")
    run.consume(consumer, [("t", 1, later.offset), ("t", 0, earlier.offset)])
    run.final_reads()
    result = run_check(run, tmp_path)
    assert counts(result) == {"key-order": 1}
    [bad] = evidence(result, "key-order")
    assert (bad["key"], bad["value"], bad["overtaken_by"]) == ("acct-7", "p1:0", "p1:1")


def test_reprocessing_a_key_after_a_rebalance_is_not_disorder(tmp_path):
    run = Run()
    run.send(1, 0, key="acct-7")
    run.send(1, 1, key="acct-7")
    consumer = run.reader("c1", "consumer", "read_uncommitted", group="g")
    run.consume(consumer, [("t", 0, 0), ("t", 0, 1)], generation=1)
    run.consume(consumer, [("t", 0, 0), ("t", 0, 1)], generation=2)
    run.final_reads()
    assert counts(run_check(run, tmp_path)) == {"duplicate-processing": 2}


def test_one_key_in_two_topics_has_no_order_between_them(tmp_path):
    run = Run()
    first = run.send(1, 0, topic="payments", key="acct-7")
    second = run.send(1, 1, topic="audit", key="acct-7")
    consumer = run.reader("c1", "consumer", "read_uncommitted", group="g", topics=("payments", "audit"))
    run.consume(consumer, [("audit", 0, second.offset), ("payments", 0, first.offset)])
    run.final_reads()
    assert counts(run_check(run, tmp_path)) == {}
