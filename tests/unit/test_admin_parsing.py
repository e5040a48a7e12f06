"""Decoding a group member's consumer-protocol assignment (no cluster needed)."""

import struct

from harness.cluster.admin import _assigned


def encode(topics: dict[str, list[int]]) -> bytes:
    out = struct.pack(">hi", 3, len(topics))
    for topic, partitions in topics.items():
        out += struct.pack(">h", len(topic)) + topic.encode() + struct.pack(f">i{len(partitions)}i",
                                                                           len(partitions), *partitions)
    return out + struct.pack(">i", -1)  # no user data


def test_assignment_of_two_topics():
    assert _assigned(encode({"orders": [0, 2], "audit": [1]})) == [("orders", 0), ("orders", 2), ("audit", 1)]


def test_empty_assignment():
    assert _assigned(b"") == [] and _assigned(encode({})) == []
