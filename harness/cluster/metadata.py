"""One broker's own view of the cluster: a Metadata request (v8) sent to that broker alone.

librdkafka answers metadata queries from whichever broker it likes, and an isolated broker
keeps claiming leadership it has lost. Asking each broker directly, and trusting the highest
leader epoch, gives the cluster's real state, with the leader epochs the observer records.
"""

from __future__ import annotations

import socket
import struct
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.cluster.client_security import ClientLogin
    from harness.cluster.security import Login

API_METADATA, VERSION = 3, 8
API_SASL_HANDSHAKE, API_SASL_AUTHENTICATE = 17, 36
CLIENT_ID = b"kafka-chaos"


@dataclass(frozen=True)
class PartitionView:
    topic: str
    partition: int
    leader: int | None
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    error: int


@dataclass(frozen=True)
class BrokerView:
    answered_by: int
    brokers: dict[int, str]  # registered, unfenced brokers: id -> host:port
    controller: int
    partitions: dict[tuple[str, int], PartitionView]
    cluster_id: str | None = None


def fetch(address: str, topics: list[str] | None = None, timeout: float = 3.0,
          login: "Login | ClientLogin | None" = None) -> BrokerView:
    """Ask the broker at host:port for its metadata (all topics when `topics` is None); on a secured
    cluster over TLS, after SCRAM under sasl_ssl, as `login` says (a cluster the harness secured,
    or the `security:` of one it did not)."""
    host, port = address.rsplit(":", 1)
    body = _int32(-1) if topics is None else _int32(len(topics)) + b"".join(_string(t) for t in topics)
    body += b"\x00\x00\x00"  # no auto-creation, no authorized operations
    with socket.create_connection((host, int(port)), timeout=timeout) as raw:
        conn = login.wrap(raw, host) if login else raw
        try:
            if login and login.scram:
                authenticate(conn, *login.scram)
            return _parse(_exchange(conn, API_METADATA, VERSION, body))
        finally:
            if conn is not raw:
                conn.close()


class AuthenticationFailed(ConnectionError):
    """The broker refused the SASL credentials."""


def authenticate(conn: socket.socket, mechanism: str, user: str, password: str) -> None:
    """SASL: SaslHandshake v1, then SCRAM's two rounds in SaslAuthenticate v1 (RFC 5802, scramp)."""
    from scramp import ScramClient

    handshake = _exchange(conn, API_SASL_HANDSHAKE, 1, _string(mechanism))
    if (error := handshake.int16()) != 0:
        raise AuthenticationFailed(f"{mechanism} refused by the broker (error {error})")
    client = ScramClient([mechanism], user, password)
    server_first = _sasl_round(conn, client.get_client_first())
    client.set_server_first(server_first)
    client.set_server_final(_sasl_round(conn, client.get_client_final()))


def _sasl_round(conn: socket.socket, message: str) -> str:
    encoded = message.encode()
    r = _exchange(conn, API_SASL_AUTHENTICATE, 1, _int32(len(encoded)) + encoded)
    error, detail = r.int16(), r.string()
    if error != 0:
        raise AuthenticationFailed(detail or f"SASL error {error}")
    return r.take(r.int32()).decode()


def _exchange(conn: socket.socket, api: int, version: int, body: bytes) -> "_Reader":
    """One request (header v1) and its response, past the correlation id."""
    request = struct.pack(">hhi", api, version, 1) + _string(CLIENT_ID.decode()) + body
    conn.sendall(_int32(len(request)) + request)
    size = struct.unpack(">i", _recv(conn, 4))[0]
    response = _Reader(_recv(conn, size))
    response.int32()  # correlation id
    return response


def freshest(views: list[PartitionView]):
    """One partition as the cluster really has it, from several brokers' views: the highest
    leader epoch wins (a majority among those), so an isolated broker's stale claim is outvoted."""
    from harness.cluster.admin import PartitionState

    epoch = max(v.leader_epoch for v in views)
    current = Counter((v.leader, v.replicas, v.isr) for v in views if v.leader_epoch == epoch)
    (leader, replicas, isr), _ = current.most_common(1)[0]
    first = views[0]
    return PartitionState(first.topic, first.partition, leader, replicas, isr, epoch)


def _parse(r: "_Reader") -> BrokerView:
    r.int32()  # throttle time
    brokers = {}
    for _ in range(r.int32()):
        node, host, port = r.int32(), r.string(), r.int32()
        r.string()  # rack
        brokers[node] = f"{host}:{port}"
    cluster_id = r.string()
    controller = r.int32()
    partitions = {}
    for _ in range(r.int32()):
        r.int16()  # topic error
        topic = r.string()
        r.int8()  # is internal
        for _ in range(r.int32()):
            error, index, leader, epoch = r.int16(), r.int32(), r.int32(), r.int32()
            replicas, isr = tuple(r.int32s()), tuple(r.int32s())
            r.int32s()  # offline replicas
            partitions[(topic, index)] = PartitionView(topic, index, leader if leader >= 0 else None, epoch,
                                                       replicas, isr, error)
        r.int32()  # topic authorized operations
    return BrokerView(-1, brokers, controller, partitions, cluster_id)


def _int32(value: int) -> bytes:
    return struct.pack(">i", value)


def _string(value: str) -> bytes:
    encoded = value.encode()
    return struct.pack(">h", len(encoded)) + encoded


def _recv(conn: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = conn.recv(min(left, 1 << 16))
        if not chunk:
            raise ConnectionError("broker closed the connection mid-response")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, size: int) -> bytes:
        data = self.data[self.at:self.at + size]
        self.at += size
        return data

    def _take(self, fmt: str):
        value = struct.unpack_from(fmt, self.data, self.at)[0]
        self.at += struct.calcsize(fmt)
        return value

    def int8(self) -> int:
        return self._take(">b")

    def int16(self) -> int:
        return self._take(">h")

    def int32(self) -> int:
        return self._take(">i")

    def int32s(self) -> list[int]:
        return [self.int32() for _ in range(self.int32())]

    def string(self) -> str | None:
        size = self.int16()
        if size < 0:
            return None
        value = self.data[self.at:self.at + size].decode()
        self.at += size
        return value
