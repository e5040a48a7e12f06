"""Kafka's wire framing: every request and response is a 4-byte big-endian length and that many
bytes. A request starts with its header (api key, api version, correlation id, client id, and
tagged fields from header v2, used by flexible versions); a response starts with the
correlation id (and tagged fields in header v1, except ApiVersions, which always answers with
header v0 so any client can read it)."""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

LENGTH = struct.Struct(">i")
REQUEST = struct.Struct(">hhi")  # api key, api version, correlation id
MAX_FRAME = 256 * 2**20
API_VERSIONS = 18


class FramingError(ValueError):
    """Bytes that are not a Kafka frame."""


@dataclass(frozen=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int


def parse_request(frame: bytes) -> RequestHeader:
    if len(frame) < REQUEST.size:
        raise FramingError(f"a request of {len(frame)} bytes has no header")
    return RequestHeader(*REQUEST.unpack_from(frame))


def response_correlation(frame: bytes) -> int:
    if len(frame) < 4:
        raise FramingError(f"a response of {len(frame)} bytes has no correlation id")
    return LENGTH.unpack_from(frame)[0]


def response_body_start(frame: bytes, api_key: int, flexible: bool) -> int:
    """Where the response body starts: after the correlation id and, in header v1, its tagged fields."""
    if not flexible or api_key == API_VERSIONS:
        return 4
    return skip_tagged_fields(frame, 4)


async def read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """The next frame's bytes (without its length), or None at a clean end of stream."""
    try:
        prefix = await reader.readexactly(4)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise FramingError("the stream ended inside a length prefix") from None
        return None
    size = LENGTH.unpack(prefix)[0]
    if not 0 <= size <= MAX_FRAME:
        raise FramingError(f"a frame of {size} bytes")
    return await reader.readexactly(size)


def frame(body: bytes) -> bytes:
    return LENGTH.pack(len(body)) + body


# ---- varints (flexible versions) ----------------------------------------------------------------


def read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position) of an unsigned varint at `pos`."""
    value, shift = 0, 0
    while True:
        if pos >= len(data):
            raise FramingError("a varint runs past the end of the frame")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise FramingError("a varint longer than 10 bytes")


def skip_tagged_fields(data: bytes, pos: int) -> int:
    count, pos = read_uvarint(data, pos)
    for _ in range(count):
        _, pos = read_uvarint(data, pos)
        size, pos = read_uvarint(data, pos)
        pos += size
    if pos > len(data):
        raise FramingError("tagged fields run past the end of the frame")
    return pos
