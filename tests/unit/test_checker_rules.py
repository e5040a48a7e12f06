"""Property tests of the checker's rules (issue 18): random histories where a rule applies and
near misses where it must not, each with the exact count the rule gives.

Every test builds a history in tests/histories.py's model, so what the log, the acks and the
readers hold is known, and derives the expected counts from that model, not from the checker.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checker.check import check
from harness.checker.model import AnomalyKind, Verdict
from tests.histories import MARKER, Read, Run

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = st.integers(0, 2**32 - 1)


def checked(run: Run, disk: dict | None = None, **disk_options):
    with tempfile.TemporaryDirectory() as directory:
        run.write(Path(directory))
        if disk is not None:
            run.write_disk(Path(directory), disk, **disk_options)
        result = check(Path(directory))
    assert not result.errors, result.errors
    return result


def counts(result) -> dict[str, int]:
    return {i.kind.value: i.count for i in result.invariants if i.count}


def expect(**found: int) -> dict[str, int]:
    return {kind.replace("_", "-"): n for kind, n in found.items() if n}


# ---- 1. acknowledgements without an offset --------------------------------------------------


@SETTINGS
@given(seed=SEEDS)
def test_a_group_is_judged_where_an_offsetless_value_is_not_at_minus_one(seed):
    """Values acked without an offset (DUPLICATE_SEQUENCE_NUMBER) are placed where the final read
    found them: a group that stopped before them lost nothing; one that skipped some lost those."""
    rng = random.Random(seed)
    run = Run()
    n = rng.randint(4, 16)
    for seq in range(n):
        run.send(1, seq, ack=-1 if rng.random() < 0.5 else None)
    reach = rng.randint(1, n - 1)  # the group stopped here, well before the last values
    a = rng.randint(0, reach - 1)
    b = rng.randint(a, reach - 1)  # a rebalance resumed at b: [a, b) was passed over
    consumer = run.reader("c1", "consumer", "read_uncommitted", group="g")
    run.consume(consumer, [("t", 0, o) for o in range(a)], generation=1)
    run.consume(consumer, [("t", 0, o) for o in range(b, reach)], generation=2)
    consumer.commits.append(("t", 0, reach, run.tick()))
    run.final_reads()
    assert counts(checked(run)) == expect(lost_processing=b - a)


@SETTINGS
@given(seed=SEEDS)
def test_a_transformer_is_judged_where_an_offsetless_input_is(seed):
    """A transformer that stopped before inputs acked without offsets missed none of them; an
    input it went past without output is lost output."""
    rng = random.Random(seed)
    run = Run("exactly-once")
    n = rng.randint(3, 10)
    inputs = [run.send(9, seq, topic="in", ack=-1 if rng.random() < 0.5 else None) for seq in range(n)]
    transformer = run.reader("x1", "transformer", "read_committed", group="gx", topics=("in",), output="out",
                             producer=8)
    done = rng.randint(1, n - 1)
    skipped = rng.randrange(done - 1) if done > 1 and rng.random() < 0.5 else None  # never the last: it carries the txn
    for offset in range(done):
        transformer.reads.append(Read("in", 0, offset, inputs[offset].vid, generation=1, at=run.tick(), in_txn=1))
        if offset != skipped:
            run.send(8, offset, topic="out", txn=1, source=(9, offset))
    run.end_txn(8, 1, "committed")
    run.final_reads()
    assert counts(checked(run)) == expect(lost_output=skipped is not None)


@SETTINGS
@given(seed=SEEDS, later=st.sampled_from(["after the ack", "during the ack", "none"]))
def test_an_offsetless_ack_is_lost_when_a_later_write_was_read_past_its_place(seed, later):
    """A value acked without an offset and then truncated is lost when a value sent after its
    ack (the log ended before that one) was read below the proven end; with nothing sent after
    the ack, or only a send in flight during it, nothing places it: unseen."""
    rng = random.Random(seed)
    run = Run()
    run.clients[1] = {"acks": "all", "enable.idempotence": False}  # no neighbour bounds: only later writes
    for seq in range(rng.randint(0, 4)):
        run.send(1, seq)
    gone = run.send(1, 99, ack=-1)
    run.log[("t", 0)].pop()  # truncated by a leader change
    more = 0
    if later != "none":
        other = run.send(2, 0, outcome=rng.choice(["ok", "pending"]))  # lands where the lost one was
        if later == "during the ack":
            other.invoke = gone.complete - 1
        more = rng.randint(0, 3)
        for seq in range(more):
            run.send(2, 1 + seq)  # sent after the ack too
    run.final_reads()
    placed = later == "after the ack" or more > 0
    assert counts(checked(run)) == (expect(lost_write=1) if placed else expect(unseen=1))


@SETTINGS
@given(seed=SEEDS, acked=st.booleans())
def test_an_idempotent_producers_neighbours_bound_an_offsetless_ack(seed, acked):
    """An idempotent producer writes a partition in order: a value acked without an offset lies
    before its next write there, so if the final read read everything below that one and not the
    value, it is lost; a final read that stopped before proves nothing about it."""
    rng = random.Random(seed)
    run = Run()
    for seq in range(rng.randint(1, 4)):  # (an ack at offset 0 right after an offsetless one reads as made up)
        run.send(1, seq)
    gone = run.send(1, 10, ack=-1)
    run.log[("t", 0)].pop()
    after = run.send(1, 11, outcome="ok" if acked else "pending")  # in the log where the lost one was
    after.invoke = gone.complete - 1  # in flight during the ack: only idempotence orders the two
    stop = rng.choice([after.offset, after.offset + 1])
    run.final_reads(stop={("t", 0): stop} if stop < len(run.log[("t", 0)]) else None)
    # Where `after` is, is known from its ack, or (pending) only if the final read reached it.
    bounded = after.offset < stop or (acked and after.offset <= stop)
    missed_after = acked and after.offset >= stop  # acknowledged, beyond the proof: unseen itself
    assert counts(checked(run)) == expect(lost_write=bounded, unseen=(not bounded) + missed_after)


# ---- 2. no proof, no pass --------------------------------------------------------------------


@SETTINGS
@given(seed=SEEDS)
def test_without_a_final_read_loss_is_unknown_and_unread_writes_are_unseen(seed):
    from tests.histories import simulate

    rng = random.Random(seed)
    run = simulate(rng)  # clean, but the final read never happened
    result = checked(run)
    committed = {k for k, v in run.txns.items() if v == "committed"}
    visible = [s for s in run.sends if s.outcome == "ok" and (s.txn == 0 or (s.producer, s.txn) in committed)]
    read = {r.value for reader in run.readers for r in reader.reads}
    assert counts(result) == expect(unseen=len([s for s in visible if s.vid not in read]))
    lost = result.invariant(AnomalyKind.LOST_WRITE)
    if visible:
        assert (lost.status, result.verdict) == ("unknown", Verdict.UNKNOWN)
        assert "no final read" in lost.note
        assert result.invariant(AnomalyKind.DUPLICATE).status == "unknown"
    if committed:
        assert result.invariant(AnomalyKind.TORN_TRANSACTION).status == "unknown"


# ---- 3. a partial final read proves what it read ---------------------------------------------


@SETTINGS
@given(seed=SEEDS)
def test_a_final_read_that_stopped_early_proves_what_it_read_below_where_it_stopped(seed):
    """Values the final read did not return, below where it stopped on a partition, are lost;
    values from there on are unseen."""
    rng = random.Random(seed)
    run = Run()
    lost = unseen = 0
    stops, dropped = {}, set()
    for partition in range(rng.randint(1, 3)):
        n = rng.randint(1, 8)
        for seq in range(n):
            run.send(1, 100 * partition + seq, partition=partition)
        stop = rng.randint(0, n)
        if stop < n:
            stops[("t", partition)] = stop
        dropped |= {(partition, o) for o in range(stop) if rng.random() < 0.3}  # lost in reading
        lost += len([o for o in range(stop) if (partition, o) in dropped])
        unseen += n - stop
    run.final_reads(stop=stops)
    for reader in run.readers:
        reader.reads = [r for r in reader.reads if (r.partition, r.offset) not in dropped]
    assert counts(checked(run)) == expect(lost_write=lost, unseen=unseen)


# ---- 4. aborted transactions belong to aborted-read only -------------------------------------


@SETTINGS
@given(seed=SEEDS)
def test_part_of_an_aborted_transaction_seen_is_an_aborted_read_and_never_torn(seed):
    rng = random.Random(seed)
    run = Run()
    seq = 0
    plan = {}
    for txn in range(1, rng.randint(2, 5)):
        records = [run.send(1, seq + i, partition=rng.randrange(2), txn=txn) for i in range(rng.randint(2, 4))]
        seq += len(records)
        outcome = rng.choice(["committed", "aborted"])
        run.end_txn(1, txn, outcome)
        plan[txn] = (outcome, records)
    run.final_reads()
    committed_view = run.final("read_committed")
    aborted_seen = torn = 0
    for txn, (outcome, records) in plan.items():
        if outcome == "aborted":
            seen = rng.sample(records, rng.randint(0, len(records)))  # read_committed should see none
            committed_view.reads += [Read("t", r.partition, r.offset, r.vid, generation=0, at=run.tick())
                                     for r in seen]
            aborted_seen += len(seen)
        elif rng.random() < 0.5:  # a committed transaction seen partly: torn
            hidden = set(rng.sample([r.vid for r in records], rng.randint(1, len(records) - 1)))
            committed_view.reads = [r for r in committed_view.reads if r.value not in hidden]
            torn += 1
    assert counts(checked(run)) == expect(aborted_read=aborted_seen, torn_transaction=torn)


# ---- 5. a write the producer was told had failed ---------------------------------------------


@SETTINGS
@given(seed=SEEDS)
def test_a_failed_write_that_is_read_is_flagged_once(seed):
    rng = random.Random(seed)
    run = Run()
    written_failures = 0
    for seq in range(rng.randint(1, 15)):
        outcome = rng.choice(["ok", "fail", "info", "pending"])
        in_log = outcome == "ok" or rng.random() < 0.5  # a failed one in the log: told "not written", written
        run.send(1, seq, outcome=outcome, in_log=in_log)
        written_failures += outcome == "fail" and in_log
    consumer = run.reader("c1", "consumer", "read_uncommitted", group="g")
    run.consume(consumer, [("t", 0, o) for o in range(len(run.log.get(("t", 0), [])))])
    run.final_reads()
    result = checked(run)
    assert counts(result) == expect(failed_write_read=written_failures)
    status = "fail" if written_failures else "pass" if any(s.outcome == "fail" for s in run.sends) else "not-applicable"
    assert result.invariant(AnomalyKind.FAILED_WRITE_READ).status == status


# ---- 6. acknowledgements are observations of the log -----------------------------------------


@SETTINGS
@given(seed=SEEDS)
def test_acks_that_disagree_with_reads_or_each_other_are_inconsistent_offsets(seed):
    """An ack naming an offset where a reader found another value, or two acks naming one
    offset, is an inconsistent offset (and the value acked there and never read, a lost write);
    an ack without an offset observes nothing; a value written twice is a duplicate."""
    rng = random.Random(seed)
    run = Run()
    n = rng.randint(2, 8)
    for seq in range(n):
        run.send(1, seq)
    clashes, lost, duplicates = set(), 0, 0
    kinds = sorted((rng.choice(["clash", "no offset", "duplicate"]) for _ in range(rng.randint(0, 4))),
                   key=lambda k: k == "no offset")  # last: no later write places them
    for producer, kind in enumerate(kinds, start=2):  # a producer each: no send order between them
        if kind == "clash":  # acked at an offset that holds another value
            offset = rng.randrange(n)
            run.send(producer, 0, in_log=False, ack=offset)
            clashes.add(offset)
            lost += 1
        elif kind == "no offset":  # acked without an offset, never written: nothing places it
            run.send(producer, 0, in_log=False, ack=-1)
        else:  # written twice by a retry; the ack names the second copy
            send = run.send(producer, 0)
            send.ack = run.append("t", 0, send.vid)
            duplicates += 1
    run.final_reads()
    unseen = len([s for s in run.sends if s.ack == -1])
    assert counts(checked(run)) == expect(inconsistent_offsets=len(clashes), lost_write=lost, duplicate=duplicates,
                                          unseen=unseen)


# ---- 7. a transformer's duplicated output and its missing output -----------------------------


@SETTINGS
@given(seed=SEEDS, semantics=st.sampled_from(["at-most-once", "at-least-once", "exactly-once"]))
def test_transformer_duplicates_and_losses_follow_the_semantics(seed, semantics):
    rng = random.Random(seed)
    run = Run(semantics)
    transformer = run.reader("x1", "transformer", "read_committed", group="gx", topics=("in",), output="out",
                             producer=8)
    txn = out = generation = 0
    fates = []
    for seq in range(rng.randint(1, 8)):
        record = run.send(9, seq, topic="in")
        fate = rng.choice(["once", "twice", "lost"]) if txn else "once"
        for _ in range({"once": 1, "twice": 2, "lost": 1}[fate]):
            generation += 1
            if fate != "lost":
                txn += 1
                run.send(8, out, topic="out", txn=txn, source=(9, seq))
                out += 1
                run.end_txn(8, txn, "committed")
            transformer.reads.append(Read("in", 0, record.offset, record.vid, generation=generation, at=run.tick(),
                                          in_txn=txn))  # a lost one rides in the last, committed, transaction
        fates.append(fate)
    run.final_reads()
    result = checked(run)
    twice, lost = fates.count("twice"), fates.count("lost")
    assert counts(result) == expect(duplicate_output=twice, lost_output=lost)
    allowed = {"at-most-once": "lost-output", "at-least-once": "duplicate-output"}.get(semantics)
    for kind, n in (("duplicate-output", twice), ("lost-output", lost)):
        status = "pass" if not n else "allowed" if kind == allowed else "fail"
        assert result.invariant(AnomalyKind(kind)).status == status


# ---- 8. acks=0 -------------------------------------------------------------------------------


@SETTINGS
@given(seed=SEEDS)
def test_fire_and_forget_acks_carry_no_offset_and_loss_is_judged_from_the_final_read(seed):
    """Under acks=0 the client makes offsets up (a long batch "lands" at 0, 1, ...): they are
    ignored, so no send order is judged; a send never written is lost when a later one was read,
    unseen at the tail; the verdict says the producer ran with acks=0."""
    rng = random.Random(seed)
    run = Run()
    run.clients[1] = {"acks": "0", "enable.idempotence": False}
    written = []
    for seq in range(rng.randint(2, 12)):
        dropped = rng.random() < 0.3  # the leader died with it: never written
        run.send(1, seq, in_log=not dropped, ack=rng.randint(0, 5))  # made-up offsets, out of order
        written.append(not dropped)
    run.final_reads()
    lost = len([i for i, w in enumerate(written) if not w and any(written[i + 1:])])
    tail = len(written) - 1 - max([i for i, w in enumerate(written) if w], default=-1)
    result = checked(run)
    assert counts(result) == expect(lost_write=lost, unseen=tail)
    assert "p1 ran with acks=0" in result.invariant(AnomalyKind.LOST_WRITE).note
    assert result.stats["fire_and_forget"] == ["p1"] and result.stats["acked_without_offset"] == len(written)


# ---- 9. aborted data processed downstream ----------------------------------------------------


@SETTINGS
@given(seed=SEEDS, semantics=st.sampled_from(["at-least-once", "exactly-once"]))
def test_under_exactly_once_any_consumer_processing_aborted_data_is_an_aborted_read(seed, semantics):
    rng = random.Random(seed)
    run = Run(semantics)
    seq, aborted = 0, 0
    for txn in range(1, rng.randint(2, 6)):
        records = rng.randint(1, 3)
        for _ in range(records):
            run.send(1, seq, txn=txn)
            seq += 1
        outcome = rng.choice(["committed", "aborted", "unfinished"])
        run.end_txn(1, txn, outcome)
        aborted += records if outcome != "committed" else 0
    consumer = run.reader("c1", "consumer", "read_uncommitted", group="g")
    run.consume(consumer, [("t", 0, o) for o, e in enumerate(run.log[("t", 0)]) if e != MARKER])
    run.final_reads()
    result = checked(run)
    assert counts(result) == expect(aborted_read=aborted if semantics == "exactly-once" else 0)
    if aborted and semantics == "exactly-once":
        assert "read_uncommitted" in result.anomalies["aborted-read"][0]["explanation"]


# ---- 10. unseen, yet the disk proves it gone -------------------------------------------------


@SETTINGS
@given(seed=SEEDS, scanned=st.booleans())
def test_an_unseen_write_no_replica_holds_is_lost_when_the_segments_reach_back_before_it(seed, scanned):
    """The tail truncated away is unseen to the final read. A disk scan makes it a lost write
    when every replica was read whole, none holds it, and each still holds a value acknowledged
    before it was sent; a replica holding it, one with unread compressed batches, or one whose
    retained records all came later leaves it unseen. Without a scan: unseen."""
    rng = random.Random(seed)
    run = Run()
    n = rng.randint(2, 8)
    sends = [run.send(1, seq) for seq in range(n)]
    cut = rng.randint(1, n - 1)
    del run.log[("t", 0)][cut:]  # truncated; nothing came after
    run.final_reads()
    full = sends[0].vid, *[s.vid for s in sends[1:]]
    logs, compressed = {}, set()
    for node in (1, 2, 3):
        state = rng.choice(["truncated", "truncated", "holds the tail", "compressed", "retention"])
        if state == "holds the tail":
            logs[node] = {("t", 0): list(full[:rng.randint(cut + 1, n)])}
        elif state == "retention":  # its first records deleted: it holds nothing from before some point
            start = rng.randint(1, cut)
            logs[node] = {("t", 0): [None] * start + list(full[start:cut])}
        else:
            logs[node] = {("t", 0): list(full[:cut])}
            if state == "compressed":
                compressed.add(node)
    lost = 0
    for send in sends[cut:]:
        held = any(send.vid in log[("t", 0)] for log in logs.values())
        reach_back = all(any(v is not None and v != send.vid and sends[[s.vid for s in sends].index(v)].complete
                             < send.invoke for v in log[("t", 0)]) for log in logs.values())
        lost += scanned and not held and not compressed and reach_back
    result = checked(run, logs if scanned else None, compressed=frozenset(compressed))
    assert counts(result) == expect(lost_write=lost, unseen=n - cut - lost)
