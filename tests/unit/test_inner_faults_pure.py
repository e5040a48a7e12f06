"""The pure parts of power loss, clock skew and protocol faults: lazyfs's journal (on plain
files), Kafka framing and the schema walk over responses built by hand, rules, the fault specs
in experiments and the nemesis, and what they provision."""

from __future__ import annotations

import os
import random
import struct

import pytest

from harness.cluster import faketime
from harness.cluster.layout import plan, server_properties
from harness.cluster.spec import ClusterSpec, NodeHooks, ProxySpec
from harness.experiment.model import Experiment
from harness.faults import FAULTS
from harness.faults.schedule import Nemesis, plan as plan_faults
from harness.kafkaproxy import framing, schema
from harness.kafkaproxy.rules import Rule
from harness.lazyfs.journal import PAGE, Journal
from harness.report.html import fault_windows

# ---- lazyfs journal -------------------------------------------------------------------------------


def write(journal: Journal, path: str, data: bytes, offset: int) -> None:
    fd = os.open(journal.backing(path), os.O_RDWR | os.O_CREAT)
    try:
        journal.write(path, fd, data, offset)
    finally:
        os.close(fd)


def contents(journal: Journal, path: str) -> bytes:
    with open(journal.backing(path), "rb") as f:
        return f.read()


def test_power_loss_keeps_what_was_synced_and_drops_the_rest(tmp_path):
    journal = Journal(str(tmp_path))
    journal.created("/log")
    write(journal, "/log", b"a" * 5000, 0)
    journal.synced("/log")
    write(journal, "/log", b"b" * 3000, 5000)  # appended
    write(journal, "/log", b"c" * 10, 4095)  # overwrites the end of page 0 and the start of page 1
    journal.created("/new")
    write(journal, "/new", b"never synced", 0)
    assert journal.unsynced_bytes() == 3000 + 12 + PAGE + (5000 - PAGE)
    undone = journal.lose_power()
    assert contents(journal, "/log") == b"a" * 5000
    assert contents(journal, "/new") == b""
    assert len(undone) == 2 and journal.files == {}


def test_truncation_and_renames_are_undone_where_the_file_now_is(tmp_path):
    journal = Journal(str(tmp_path))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"x" * 9000)  # synced before the journal started
    journal.truncate("/d/f", 100)
    os.rename(tmp_path / "d", tmp_path / "e")
    journal.renamed("/d", "/e")
    journal.lose_power()
    assert contents(journal, "/e/f") == b"x" * 9000


def test_removed_files_are_forgotten_and_writes_to_unlinked_files_ignored(tmp_path):
    journal = Journal(str(tmp_path))
    journal.created("/gone")
    write(journal, "/gone", b"x", 0)
    os.unlink(tmp_path / "gone")
    journal.removed("/gone")
    unlinked = os.open(tmp_path / "unlinked", os.O_RDWR | os.O_CREAT)
    os.unlink(tmp_path / "unlinked")
    journal.write(None, unlinked, b"x", 0)
    assert journal.lose_power() == []
    with pytest.raises(OSError, match="power is off"):
        journal.write(None, unlinked, b"y", 1)
    os.close(unlinked)


# ---- framing and the schema walk -------------------------------------------------------------------


@pytest.fixture(scope="module")
def responses():
    from harness.cluster.distribution import obtain

    try:
        libs = obtain(None).libs
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no Kafka distribution here: {exc}")
    return schema.load(schema.find_jar(libs))[1]


def uvarint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def compact_string(text: str | None) -> bytes:
    return uvarint(0) if text is None else uvarint(len(text) + 1) + text.encode()


def test_a_request_header_and_varints_are_read():
    frame = struct.pack(">hhi", 0, 11, 42) + struct.pack(">h", 2) + b"me" + b"\0"
    assert framing.parse_request(frame) == framing.RequestHeader(0, 11, 42)
    assert framing.read_uvarint(uvarint(300) + b"x", 0) == (300, 2)
    assert framing.skip_tagged_fields(uvarint(1) + uvarint(5) + uvarint(2) + b"ab" + b"rest", 0) == 5
    with pytest.raises(framing.FramingError):
        framing.parse_request(b"\0\1")


def test_end_txn_error_is_found_in_classic_and_flexible_versions(responses):
    classic = struct.pack(">ih", 0, 0)  # v2: throttle time, error code
    assert schema.error_code_offsets(classic, responses[26], 2) == [4]
    flexible = struct.pack(">ih", 0, 0) + b"\0"  # v4: the same and no tagged fields
    assert schema.error_code_offsets(flexible, responses[26], 4) == [4]
    with pytest.raises(framing.FramingError):
        schema.error_code_offsets(flexible + b"junk", responses[26], 4)


def test_find_coordinator_v4_errors_are_found_inside_the_array(responses):
    coordinator = (compact_string("txn") + struct.pack(">i", 2) + compact_string("h") + struct.pack(">i", 9092)
                   + struct.pack(">h", 0) + compact_string(None) + b"\0")
    body = struct.pack(">i", 0) + uvarint(3) + coordinator * 2 + b"\0"
    offsets = schema.error_code_offsets(body, responses[10], 4)
    assert len(offsets) == 2
    patched = schema.with_error(body, offsets, 15)
    assert [struct.unpack_from(">h", patched, pos)[0] for pos in offsets] == [15, 15] and len(patched) == len(body)


def test_every_client_api_has_a_response_definition(responses):
    from harness.faults.protocol import API_KEYS

    missing = {name for name, key in API_KEYS.items() if key not in responses or responses[key].name != name}
    assert missing == set()


def test_rules_pick_their_apis_and_share():
    rule = Rule(tag="t", apis=frozenset({0}), action="drop", share=0.5)
    rng = random.Random(1)
    hits = sum(rule.applies(0, rng) for _ in range(2000))
    assert 900 < hits < 1100 and not rule.applies(1, rng)


# ---- specs, provisions, the nemesis, the report --------------------------------------------------


EXPERIMENT = {
    "name": "x", "topics": [{"name": "t"}], "workload": {"producers": [{"name": "p", "topics": ["t"]}]},
}


def with_faults(*faults) -> Experiment:
    return Experiment.model_validate({**EXPERIMENT, "faults": {"kind": "nemesis", "faults": list(faults)}})


def test_each_fault_provisions_what_it_needs_and_nothing_more():
    none = Experiment.model_validate(EXPERIMENT)
    assert none.needed_hooks() == NodeHooks() and not none.needed_proxies().kafka
    power = with_faults({"fault": "power-loss", "target": "majority"})
    assert power.needed_hooks() == NodeHooks(lazyfs=True)
    clock = with_faults({"fault": "clock-skew", "target": 1, "offset_s": -30})
    assert clock.needed_hooks() == NodeHooks(faketime=True)
    protocol = with_faults({"fault": "error-response", "apis": ["TxnOffsetCommit"], "error": "COORDINATOR_NOT_AVAILABLE"})
    assert protocol.needed_proxies() == ProxySpec(kafka=True)


def test_the_nemesis_draws_the_new_faults():
    nemesis = Nemesis.model_validate({"faults": [
        {"fault": "power-loss", "target": "minority"}, {"fault": "clock-skew", "target": "random", "offset_s": 30},
        {"fault": "delay-response", "apis": ["Fetch"], "ms": 200}], "duration_s": [1, 2], "stable_s": [1, 2]})
    drawn = {p.fault.name for p in plan_faults(nemesis, seed=3, length_s=60)}
    assert drawn == {"power-loss", "clock-skew", "delay-response"}


def test_bad_fault_fields_are_refused():
    for bad in ({"fault": "clock-skew", "target": 1, "offset_s": 1e12},
                {"fault": "clock-skew", "target": 1, "offset_s": 5, "rate": 2},  # drift is not offered
                {"fault": "error-response", "apis": ["Produce"], "error": "NOPE"},
                {"fault": "delay-response", "apis": ["Nothing"], "ms": 5},
                {"fault": "power-loss"}):
        with pytest.raises(ValueError):
            FAULTS[bad["fault"]].model_validate(bad)


def test_the_protocol_listener_is_advertised_through_the_proxy():
    spec = ClusterSpec(name="p", subnet=71, proxy=ProxySpec(kafka=True))
    nodes = plan(spec, None)
    props = server_properties(nodes[0], nodes, spec, "/data")
    assert f"PROTOCOL://{nodes[0].protocol_proxy}" in props["advertised.listeners"]
    assert f"PROTOCOL://127.0.0.1:{nodes[0].protocol_port}" in props["listeners"]
    assert not spec.serves(ClusterSpec(name="p", subnet=71)), "clients would take the protocol proxy's path"


def test_faketime_settings():
    assert faketime.setting(3600) == "+3600.000"
    assert faketime.setting(-1.5) == "-1.500"


def test_fault_windows_carry_their_fault_for_colour():
    events = [{"source": "fault", "kind": "inject", "index": 0, "mono": 2e9, "text": "power", "fault": "power-loss"},
              {"source": "fault", "kind": "heal", "index": 0, "mono": 5e9}]
    [window] = fault_windows(events, 0)
    assert (window.start, window.end, window.fault) == (2, 5, "power-loss") and window.colour != "#e63946"
