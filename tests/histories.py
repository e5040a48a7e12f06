"""Building run directories by hand, for checker tests: a small model of what happened (sends,
the log, transactions, readers) written out in the history format the workers write.

    run = Run(semantics="at-least-once")
    a = run.send(producer=1, seq=0, partition=0)           # appended to the log and acked
    run.final_reads()                                      # both isolations read the whole log
    run.write(tmp_path)

`simulate(rng)` builds a random clean run (partitions, producers, transactions, rebalances,
indeterminate writes, acknowledgements without offsets, final reads that stop early);
`INJECT[kind](run, rng)` adds exactly one anomaly of a kind.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.database import table
from harness.history import disk
from harness.history.manifest import ManifestWriter
from harness.rundir import RunDir, WorkerDir
from harness.history.schema import Table
from harness.history.writer import HistoryWriter
from harness.mirror import replica

TOPIC = "t"
FLUSH_EVERY = 8  # rows per batch
MARKER = "marker"  # a transaction marker: takes an offset, never delivered
IDEMPOTENT = {"acks": "all", "enable.idempotence": True}  # a producer's client properties unless set
ERRORS = {"fail": "MSG_SIZE_TOO_LARGE", "info": "_MSG_TIMED_OUT"}


@dataclass
class Send:
    producer: int
    seq: int
    partition: int
    topic: str = TOPIC
    txn: int = 0
    outcome: str = "ok"  # ok | fail | info | pending
    in_log: bool = True
    key: str | None = None
    invoke: int = 0
    complete: int = 0
    offset: int = -1  # where it sits in the log (the ack reports it when ok)
    source: tuple[int, int] | None = None
    ack: int | None = None  # what the ack reports instead of `offset` (-1: no offset; acks=0, DUPSEQ)

    @property
    def vid(self) -> int:
        return self.producer << 40 | self.seq


@dataclass
class Read:
    topic: str
    partition: int
    offset: int
    value: int | bytes  # a vid, or foreign bytes
    generation: int = 1
    at: int = 0
    in_txn: int = 0


@dataclass
class Reader:
    name: str
    kind: str  # consumer | transformer | sink | streams | final-read
    isolation: str
    group: str | None = None
    topics: tuple[str, ...] = (TOPIC,)
    reads: list[Read] = field(default_factory=list)
    commits: list[tuple[str, int, int, int]] = field(default_factory=list)  # topic, partition, offset, at
    proofs: dict[tuple[str, int], tuple[int, int, int]] = field(default_factory=dict)  # log start, target, end
    stopped: dict[tuple[str, int], int] = field(default_factory=dict)  # where an incomplete read stopped
    output: str | None = None
    producer: int | None = None


class Run:
    def __init__(self, semantics: str = "at-least-once"):
        self.semantics = semantics
        self.sends: list[Send] = []
        self.log: dict[tuple[str, int], list] = {}  # entries: vid, bytes (foreign) or MARKER
        self.txns: dict[tuple[int, int], str] = {}  # committed | aborted | unfinished | indeterminate
        self.readers: list[Reader] = []
        self.clients: dict[int, dict] = {}  # producer -> librdkafka properties (default IDEMPOTENT)
        self.disk_logs: dict[int, dict] | None = None  # node -> its segment files' log: written as disk/
        self.clock = 1_000_000_000
        self.killed: set[str] = set()  # workers SIGKILLed (exit -9 in the manifest); the rest exit 0
        self.database: tuple[list[tuple], list[tuple]] | None = None  # sinks' rows and offsets, as dumped
        self.counts: dict[tuple[int, int], int] = {}  # a Kafka Streams output (producer, seq) -> its count
        self.uncommitted: set[int] = set()  # values of aborted Kafka Streams transactions (read_committed skips)
        self.mirror: tuple[list[tuple], dict] | None = None  # the replica's records and failovers, as dumped

    def tick(self) -> int:
        self.clock += 1_000_000
        return self.clock

    # ---- building --------------------------------------------------------------------------

    def send(self, producer: int, seq: int, partition: int = 0, topic: str = TOPIC, txn: int = 0,
             outcome: str = "ok", in_log: bool | None = None, key: str | None = None,
             source: tuple[int, int] | None = None, ack: int | None = None) -> Send:
        """A send, appended to the log unless `in_log` says otherwise (by default a failed one is not)."""
        in_log = outcome != "fail" if in_log is None else in_log
        send = Send(producer, seq, partition, topic, txn, outcome, in_log, key, invoke=self.tick(), source=source,
                    ack=ack)
        if send.in_log:
            send.offset = self.append(topic, partition, send.vid)
        send.complete = self.tick()
        self.sends.append(send)
        return send

    def append(self, topic: str, partition: int, entry) -> int:
        log = self.log.setdefault((topic, partition), [])
        log.append(entry)
        return len(log) - 1

    def end_txn(self, producer: int, txn: int, outcome: str) -> None:
        """Close a transaction: a marker in every partition it wrote to."""
        self.txns[(producer, txn)] = outcome
        touched = sorted({(s.topic, s.partition) for s in self.sends if (s.producer, s.txn) == (producer, txn)})
        for topic, partition in touched:
            self.append(topic, partition, MARKER)

    def visible(self, entry, isolation: str) -> bool:
        if entry == MARKER:
            return False
        if isolation == "read_committed" and isinstance(entry, int):
            if entry in self.uncommitted:
                return False
            send = self.by_vid.get(entry)
            if send is not None and send.txn and self.txns.get((send.producer, send.txn)) != "committed":
                return False
        return True

    @property
    def by_vid(self) -> dict[int, Send]:
        return {s.vid: s for s in self.sends}

    def reader(self, name: str, kind: str, isolation: str, **fields) -> Reader:
        reader = Reader(name, kind, isolation, **fields)
        self.readers.append(reader)
        return reader

    def final_reads(self, stop: dict[tuple[str, int], int] | None = None) -> None:
        """Both isolations read the whole log; a partition in `stop` only up to that offset (the
        read timed out there and recorded it as incomplete)."""
        for isolation in ("read_committed", "read_uncommitted"):
            reader = self.reader(f"final-{isolation.replace('_', '-')}", "final-read", isolation,
                                 topics=tuple(sorted({t for t, _ in self.log} | {s.topic for s in self.sends})))
            for (topic, partition), entries in sorted(self.log.items()):
                end = (stop or {}).get((topic, partition), len(entries))
                for offset, entry in enumerate(entries[:end]):
                    if self.visible(entry, isolation):
                        reader.reads.append(Read(topic, partition, offset, entry, generation=0, at=self.tick()))
                reader.proofs[(topic, partition)] = (0, len(entries), len(entries) if end == len(entries) else -1)
                if end < len(entries):
                    reader.stopped[(topic, partition)] = end

    def final(self, isolation: str) -> Reader:
        return next(r for r in self.readers if r.kind == "final-read" and r.isolation == isolation)

    def consume(self, reader: Reader, order: list[tuple[str, int, int]], generation: int = 1) -> None:
        """Append reads of the given (topic, partition, offset)s, in that order."""
        for topic, partition, offset in order:
            reader.reads.append(Read(topic, partition, offset, self.log[(topic, partition)][offset],
                                     generation=generation, at=self.tick()))

    # ---- writing ---------------------------------------------------------------------------

    def write(self, run_dir: Path) -> Path:
        """The run directory as workers and the launcher write it: histories and the manifest."""
        run = RunDir(run_dir)
        root, manifest = run.history, ManifestWriter(run.manifest)
        owned = {r.producer for r in self.readers if r.producer is not None}
        for producer in sorted({s.producer for s in self.sends} - owned):
            self._write_worker(root, manifest, f"p{producer}", "producer", producer, None)
        for reader in self.readers:
            self._write_worker(root, manifest, reader.name, reader.kind, reader.producer, reader)
        if self.disk_logs is not None:
            self.write_disk(run_dir, self.disk_logs)
        if self.database is not None:
            table.write(run_dir, *self.database)
        if self.mirror is not None:
            replica.write(run_dir, *self.mirror)
        return Path(run_dir)

    def replicated(self) -> list[tuple]:
        """The replica's records of a mirror that copied the whole log (as harness.mirror.replica dumps them)."""
        return [(topic, partition, offset, entry >> 40, entry & (2**40 - 1))
                for (topic, partition), entries in sorted(self.log.items())
                for offset, entry in enumerate(entries) if isinstance(entry, int)]

    def sink_rows(self, sink: Reader, entries: list[tuple[str, int, int]], txn: int = 1) -> None:
        """Rows a sink wrote into the database for the log entries (topic, partition, offset)."""
        rows, offsets = self.database or ([], [])
        for topic, partition, offset in entries:
            vid = self.log[(topic, partition)][offset]
            rows.append((sink.name, 1, sink.group, txn, topic, partition, offset, vid >> 40, vid & (2**40 - 1), None,
                         self.tick()))
        self.database = (rows, offsets)

    def stored_offset(self, group: str, topic: str, partition: int, offset: int) -> None:
        """An exactly-once sink's offset in the database."""
        rows, offsets = self.database or ([], [])
        self.database = (rows, [*offsets, (group, topic, partition, offset)])

    def write_disk(self, run_dir: Path, logs: dict[int, dict[tuple[str, int], list]] | None = None,
                   compressed: frozenset[int] = frozenset()) -> None:
        """`disk/` as the segment scan writes it: each node's copy of each partition (by default
        nodes 1-3, each holding the log as it is now; a partition missing from a node's logs is
        no replica there, a None entry a record retention deleted). Nodes in `compressed` also
        had a compressed batch the scan could not read."""
        logs = logs if logs is not None else {node: self.log for node in (1, 2, 3)}
        scanned, values = [], []
        for node, partitions in sorted(logs.items()):
            for topic, partition in sorted(self.log):
                entries = partitions.get((topic, partition))
                scanned.append({"node": node, "topic": topic, "partition": partition, "replica": entries is not None,
                                "records": len([e for e in entries or [] if e not in (MARKER, None)]),
                                "compressed_batches": int(node in compressed)})
                values += [(node, topic, partition, offset, 0, entry) for offset, entry in enumerate(entries or [])
                           if isinstance(entry, int) and entry != MARKER]
        disk.write(run_dir, scanned, pd.DataFrame(values, columns=["node", "topic", "partition", "offset",
                                                                   "leader_epoch", "vid"]))

    def _write_worker(self, root: Path, manifest: ManifestWriter, name: str, kind: str, producer: int | None,
                      reader: Reader | None) -> None:
        manifest.started(name, 1, kind)
        history = HistoryWriter(root / f"{name}.1")
        config = {"topics": sorted({s.topic for s in self.sends if s.producer == producer})} if kind == "producer" else {}
        client = self.clients.get(producer, IDEMPOTENT) if producer is not None else {}
        if reader:
            config = {"isolation": reader.isolation, "topics": list(reader.topics), "group": reader.group}
            if kind == "transformer":
                config |= {"input": reader.topics[0], "output": reader.output, "outputs_per_input": 1}
            if kind == "sink":
                config = {"input": reader.topics[0], "group": reader.group, "mode": "exactly-once"}
            if kind == "streams":
                guarantee = "exactly_once_v2" if reader.isolation == "read_committed" else "at_least_once"
                config = {"input": reader.topics[0], "output": reader.output, "application": reader.group,
                          "processing_guarantee": guarantee}
                self._write_streams_record(root / f"{name}.1", producer)
        elif any(s.txn for s in self.sends if s.producer == producer):
            config |= {"transactions": {"size": 1}}
        history.describe({"kind": kind, "name": name, "incarnation": 1, "producer": producer,
                          "semantics": self.semantics, "config": config, "producer_client": client})
        if producer is not None:
            self._write_sends(history, producer)
        if reader:
            self._write_reads(history, reader)
        if name in self.killed:
            history.flush()  # what it wrote; SIGKILL leaves no end mark
        else:
            history.close()
        manifest.exited(name, 1, -9 if name in self.killed else 0, WorkerDir(root / f"{name}.1"))

    def _write_streams_record(self, directory: Path, producer: int) -> None:
        """A Kafka Streams instance's streams.jsonl: what the checker reads the counts from."""
        lines = [{"e": "out", "seq": s.seq, "key": s.key, "count": self.counts[(producer, s.seq)]}
                 for s in self.sends if s.producer == producer]
        WorkerDir(directory).streams_facts.write_text("".join(json.dumps(line) + "\n" for line in lines))

    def streams_output(self, app: Reader, source: Send, count: int, committed: bool = True) -> Send:
        """A Kafka Streams output of `source` carrying `count` (no completion: Kafka Streams reports
        none); not committed: in the log, but of an aborted transaction (its txn-less value cannot
        say so, so the read_committed final read simply does not find it)."""
        seq = len([s for s in self.sends if s.producer == app.producer])
        output = self.send(app.producer, seq, topic=app.output, key=source.key, source=(source.producer, source.seq),
                           outcome="pending", in_log=True)
        self.counts[(app.producer, seq)] = count
        if not committed:
            self.uncommitted.add(output.vid)
        return output

    def _write_sends(self, history: HistoryWriter, producer: int) -> None:
        mine = [s for s in self.sends if s.producer == producer]
        history.write_now(Table.INVOKES, {
            "producer": [producer] * len(mine), "seq": [s.seq for s in mine], "txn": [s.txn for s in mine],
            "topic": [s.topic for s in mine], "key": [s.key for s in mine], "size": [40] * len(mine),
            "source_producer": [s.source[0] if s.source else None for s in mine],
            "source_seq": [s.source[1] if s.source else None for s in mine],
            "mono": [s.invoke for s in mine], "wall": [s.invoke for s in mine]})
        for i, s in enumerate(mine):
            if i % FLUSH_EVERY == FLUSH_EVERY - 1:
                history.flush()  # batches as a worker writes them: a few at a time
            if s.outcome != "pending":
                ok = s.outcome == "ok"
                offset = (s.offset if s.ack is None else s.ack) if ok else -1
                history.row(Table.COMPLETIONS, producer=producer, seq=s.seq, outcome=s.outcome,
                            partition=s.partition if ok else -1, offset=offset,
                            error=ERRORS.get(s.outcome), mono=s.complete, wall=s.complete)
        for (p, txn), outcome in sorted(self.txns.items()):
            if p != producer:
                continue
            at = max(s.complete for s in mine if s.txn == txn)
            history.row(Table.TXNS, producer=p, txn=txn, action="begin", phase="ok", mono=at - 1, wall=at - 1)
            action = "abort" if outcome == "aborted" else "commit"
            if outcome != "unfinished":
                history.row(Table.TXNS, producer=p, txn=txn, action=action, phase="invoke", mono=at + 1, wall=at + 1)
            if outcome in ("committed", "aborted"):
                history.row(Table.TXNS, producer=p, txn=txn, action=action, phase="ok", mono=at + 2, wall=at + 2)

    def _write_reads(self, history: HistoryWriter, reader: Reader) -> None:
        by_vid = self.by_vid
        for i, r in enumerate(reader.reads):
            if i % FLUSH_EVERY == FLUSH_EVERY - 1:
                history.flush()
            ours = isinstance(r.value, int)
            send = by_vid.get(r.value) if ours else None
            history.row(Table.READS, topic=r.topic, partition=r.partition, offset=r.offset,
                        key=send.key if send else None,
                        producer=r.value >> 40 if ours else -1, seq=r.value & (2**40 - 1) if ours else -1,
                        txn=send.txn if send else (0 if ours else -1), head=None if ours else r.value,
                        leader_epoch=0, generation=r.generation, in_txn=r.in_txn, mono=r.at, wall=r.at)
        for generation in sorted({r.generation for r in reader.reads}):
            at = min(r.at for r in reader.reads if r.generation == generation) - 1
            for topic, partition in sorted({(r.topic, r.partition) for r in reader.reads if r.generation == generation}):
                history.row(Table.EVENTS, kind="assign", topic=topic, partition=partition, generation=generation,
                            mono=at, wall=at)
        for topic, partition, offset, at in reader.commits:
            history.row(Table.EVENTS, kind="commit", phase="ok", topic=topic, partition=partition, offset=offset,
                        mono=at, wall=at)
        for (topic, partition), (start, target, end) in sorted(reader.proofs.items()):
            at = self.tick()
            history.row(Table.EVENTS, kind="log-start", topic=topic, partition=partition, offset=start, mono=at, wall=at)
            history.row(Table.EVENTS, kind="target", topic=topic, partition=partition, offset=target, mono=at, wall=at)
            kind, offset = ("end", end) if end >= 0 else ("incomplete", reader.stopped.get((topic, partition), start))
            history.row(Table.EVENTS, kind=kind, topic=topic, partition=partition, offset=offset, mono=at, wall=at)


# ---- random clean runs -----------------------------------------------------------------------


def simulate(rng: random.Random, semantics: str = "at-least-once") -> Run:
    """A clean run of random shape: every invariant must hold on it."""
    run = Run(semantics)
    partitions = rng.randint(1, 4)
    producers = rng.randint(1, 3)
    for producer in range(1, producers + 1):
        transactional = rng.random() < 0.5
        seq, txn = 0, 0
        for _ in range(rng.randint(1, 6) if transactional else 1):
            txn = txn + 1 if transactional else 0
            for _ in range(rng.randint(1, 4) if transactional else rng.randint(3, 25)):
                outcome = "ok" if transactional else rng.choices(["ok", "info", "pending", "fail"], [80, 8, 8, 4])[0]
                key = f"k{rng.randrange(5)}"  # a key always goes to the same partition, as in Kafka
                run.send(producer, seq, int(key[1:]) % partitions, txn=txn, outcome=outcome,
                         in_log=outcome == "ok" or (outcome != "fail" and rng.random() < 0.5), key=key)
                seq += 1
            if transactional:
                run.end_txn(producer, txn, rng.choice(["committed", "committed", "aborted"]))
    for group in range(rng.randint(0, 2)):
        _consume_cleanly(run, rng, f"c{group + 1}", f"g{group + 1}", rng.choice(["read_committed", "read_uncommitted"]))
    return run  # without final reads yet: call run.final_reads(), or inject an anomaly first


def _consume_cleanly(run: Run, rng: random.Random, name: str, group: str, isolation: str) -> Reader:
    """Every visible record once, partitions interleaved, with rebalances that resume exactly
    where the consumer committed."""
    reader = run.reader(name, "consumer", isolation, group=group)
    queues = {tp: [o for o, e in enumerate(entries) if run.visible(e, isolation)]
              for tp, entries in sorted(run.log.items())}
    generation = 1
    while any(queues.values()):
        tp = rng.choice([tp for tp, q in queues.items() if q])
        offset = queues[tp].pop(0)
        run.consume(reader, [(tp[0], tp[1], offset)], generation)
        if rng.random() < 0.1:  # a rebalance: commit what was processed, carry on in a new generation
            for (topic, partition) in queues:
                done = [r.offset for r in reader.reads if (r.topic, r.partition) == (topic, partition)]
                if done:
                    reader.commits.append((topic, partition, max(done) + 1, run.tick()))
            generation += 1
    return reader


# ---- injecting one anomaly --------------------------------------------------------------------
# Each injection writes into topic "u", which the simulated consumers do not read, with
# producer 9 (and transformer producer 8, Kafka Streams producer 6), so its anomaly has no
# consequence elsewhere.

U = "u"


def _lost_write(run: Run, rng: random.Random) -> None:
    """A write acknowledged and provably gone, with no acknowledged offset re-used (that would
    be an inconsistent offset too): acked without an offset, truncated, and its place taken by a
    later write the final read found; or acked at the tail, truncated, and no replica holds it."""
    run.send(9, 0, topic=U)
    if rng.random() < 0.5:
        run.send(9, 1, topic=U, ack=-1)  # an idempotent retry answered DUPLICATE_SEQUENCE_NUMBER
        run.log[(U, 0)].pop()  # truncated by a leader change...
        run.send(9, 2, topic=U, outcome="pending")  # ...and a later write landed where it was
        run.final_reads()
    else:
        run.send(9, 1, topic=U)
        run.log[(U, 0)].pop()  # truncated at the tail; nothing came after
        run.final_reads()
        run.disk_logs = {node: run.log for node in (1, 2, 3)}


def _unseen(run: Run, rng: random.Random) -> None:
    run.send(9, 0, topic=U)
    run.final_reads()
    for reader in (run.final("read_committed"), run.final("read_uncommitted")):
        reader.reads = [r for r in reader.reads if r.topic != U]
        reader.proofs[(U, 0)] = (0, 1, -1)  # the final read did not reach the end of u-0


def _duplicate(run: Run, rng: random.Random) -> None:
    record = run.send(9, 0, topic=U)
    run.append(U, 0, record.vid)  # written twice (a retry without idempotence)
    run.final_reads()


def _inconsistent_offsets(run: Run, rng: random.Random) -> None:
    run.send(9, 0, topic=U)
    other = run.send(9, 1, topic=U, outcome="pending", in_log=False)
    run.final_reads()
    seen = next(r for r in run.final("read_committed").reads if r.topic == U)
    seen.value = other.vid


def _nonmonotonic_send(run: Run, rng: random.Random) -> None:
    first, second = run.send(9, 0, topic=U), run.send(9, 1, topic=U)
    run.log[(U, 0)] = [second.vid, first.vid]
    first.offset, second.offset = 1, 0
    run.final_reads()


def _phantom(run: Run, rng: random.Random) -> None:
    run.append(U, 0, b"not written by the harness")
    run.final_reads()


def _aborted_read(run: Run, rng: random.Random) -> None:
    record = run.send(9, 0, topic=U, txn=1)
    run.end_txn(9, 1, "aborted")
    run.final_reads()
    run.final("read_committed").reads.append(Read(U, 0, record.offset, record.vid, generation=0, at=run.tick()))


def _torn_transaction(run: Run, rng: random.Random) -> None:
    run.send(9, 0, topic=U, txn=1)
    run.send(9, 1, topic=U, txn=1)
    run.end_txn(9, 1, "committed")
    run.final_reads()
    committed = run.final("read_committed")
    committed.reads.remove(next(r for r in committed.reads if r.topic == U and r.offset == 1))


def _u_consumer(run: Run, outcomes: list[str]) -> Reader:
    for seq, outcome in enumerate(outcomes):
        run.send(9, seq, topic=U, outcome=outcome, in_log=True)
    return run.reader("c9", "consumer", "read_uncommitted", group="g9", topics=(U,))


def _poll_skip(run: Run, rng: random.Random) -> None:
    consumer = _u_consumer(run, ["pending"] * 3)  # indeterminate but in the log: skipping is no lost input
    run.consume(consumer, [(U, 0, 0), (U, 0, 2)])
    run.final_reads()


def _nonmonotonic_poll(run: Run, rng: random.Random) -> None:
    consumer = _u_consumer(run, ["pending"] * 2)
    run.consume(consumer, [(U, 0, 0), (U, 0, 1), (U, 0, 0)])
    run.final_reads()


def _duplicate_processing(run: Run, rng: random.Random) -> None:
    consumer = _u_consumer(run, ["ok"])
    run.consume(consumer, [(U, 0, 0)], generation=1)
    run.consume(consumer, [(U, 0, 0)], generation=2)  # after a rebalance: re-read from the last commit
    run.final_reads()


def _lost_processing(run: Run, rng: random.Random) -> None:
    consumer = _u_consumer(run, ["ok"] * 3)
    run.consume(consumer, [(U, 0, 0)], generation=1)
    run.consume(consumer, [(U, 0, 2)], generation=2)  # committed past offset 1 without processing it
    run.final_reads()


def _key_order(run: Run, rng: random.Random) -> None:
    earlier = run.send(9, 0, topic=U, partition=0, key="k")
    later = run.send(9, 1, topic=U, partition=1, key="k")  # the key moved partition (seed scenario 30)
    consumer = run.reader("c9", "consumer", "read_uncommitted", group="g9", topics=(U,))
    run.consume(consumer, [(U, 1, later.offset), (U, 0, earlier.offset)])
    run.final_reads()


def _transformer(run: Run) -> Reader:
    return run.reader("x9", "transformer", "read_committed", group="gx", topics=(U,), output="o", producer=8)


def _duplicate_output(run: Run, rng: random.Random) -> None:
    source = run.send(9, 0, topic=U)
    transformer = _transformer(run)
    for txn in (1, 2):  # processed twice, and both transactions committed
        transformer.reads.append(Read(U, 0, source.offset, source.vid, generation=txn, at=run.tick(), in_txn=txn))
        run.send(8, txn - 1, topic="o", txn=txn, source=(9, 0))
        run.end_txn(8, txn, "committed")
    run.final_reads()


def _lost_output(run: Run, rng: random.Random) -> None:
    processed, missed = run.send(9, 0, topic=U), run.send(9, 1, topic=U)
    transformer = _transformer(run)
    for record in (processed, missed):  # both processed in transaction 1, which committed...
        transformer.reads.append(Read(U, 0, record.offset, record.vid, at=run.tick(), in_txn=1))
    run.send(8, 0, topic="o", txn=1, source=(9, 0))  # ...with output for the first only
    run.end_txn(8, 1, "committed")
    run.final_reads()


def _failed_write_read(run: Run, rng: random.Random) -> None:
    run.send(9, 0, topic=U, outcome="fail", in_log=True)  # refused, the producer was told; yet written
    run.final_reads()


def streams_app(run: Run, name: str = "s9", topic: str = U, isolation: str = "read_committed",
                producer: int = 6) -> Reader:
    return run.reader(name, "streams", isolation, group=f"app-{name}", topics=(topic,), output=f"{topic}-counts",
                      producer=producer)


def _counted(run: Run, counts: list[int]) -> None:
    """Inputs of one key on u, each read once by a Kafka Streams app whose outputs carry `counts`."""
    inputs = [run.send(9, seq, topic=U, key="k") for seq in range(len(counts))]
    app = streams_app(run)
    for record, count in zip(inputs, counts):
        run.consume(app, [(U, 0, record.offset)])
        run.streams_output(app, record, count)
    run.final_reads()


def _overcounted_state(run: Run, rng: random.Random) -> None:
    _counted(run, [1, 3])  # two inputs, each output once, yet the count says three (restored from a changelog ahead)


def _undercounted_state(run: Run, rng: random.Random) -> None:
    _counted(run, [1, 1])  # the second input's count started from nothing (state lost)
def _replica_lost_write(run: Run, rng: random.Random) -> None:
    run.send(9, 0, topic=U)
    run.final_reads()
    run.mirror = ([r for r in run.replicated() if (r[0], r[3], r[4]) != (U, 9, 0)], {})  # never copied


def _failover_reprocessing(run: Run, rng: random.Random) -> None:
    consumer = _u_consumer(run, ["ok"] * 2)
    run.consume(consumer, [(U, 0, 0), (U, 0, 1)])
    run.final_reads()
    run.mirror = (run.replicated(), {"g9": {U: {0: 1}}})  # failed over to offset 1, which it had processed


def _failover_skip(run: Run, rng: random.Random) -> None:
    consumer = _u_consumer(run, ["ok"] * 2)
    run.consume(consumer, [(U, 0, 0)])
    run.final_reads()
    run.mirror = (run.replicated(), {"g9": {U: {0: 2}}})  # failed over past offset 1, never processed


INJECT = {
    "lost-write": _lost_write, "unseen": _unseen, "duplicate": _duplicate,
    "inconsistent-offsets": _inconsistent_offsets, "nonmonotonic-send": _nonmonotonic_send,
    "phantom": _phantom, "aborted-read": _aborted_read, "torn-transaction": _torn_transaction,
    "poll-skip": _poll_skip, "nonmonotonic-poll": _nonmonotonic_poll,
    "duplicate-processing": _duplicate_processing, "lost-processing": _lost_processing,
    "duplicate-output": _duplicate_output, "lost-output": _lost_output, "key-order": _key_order,
    "failed-write-read": _failed_write_read, "replica-lost-write": _replica_lost_write,
    "failover-reprocessing": _failover_reprocessing, "failover-skip": _failover_skip,
    "overcounted-state": _overcounted_state, "undercounted-state": _undercounted_state,
}
