"""Kafka's own message definitions (the JSON files under common/message/ in the kafka-clients jar
of the cluster's distribution), and a walk over a response that finds where its error codes are.

The walk reads a response body at its version exactly as Kafka's generated code writes it
(fixed-width numbers, compact or classic strings, bytes and arrays, nullable structs, tagged
fields in flexible versions) and returns the offset of every non-tagged int16 field named
ErrorCode, at any depth: a fault rewrites those two bytes and nothing else, so the response
keeps its exact size and every other field the broker wrote.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

from harness.kafkaproxy.framing import FramingError, read_uvarint, skip_tagged_fields

FIXED = {"bool": 1, "int8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4, "int64": 8, "float64": 8, "uuid": 16}
_INT16, _INT32 = struct.Struct(">h"), struct.Struct(">i")


@dataclass(frozen=True)
class Versions:
    low: int
    high: int  # inclusive; a large number for "N+"

    @classmethod
    def parse(cls, text: str | None) -> "Versions":
        if text is None or text == "none":
            return cls(1, 0)  # empty
        if text.endswith("+"):
            return cls(int(text[:-1]), 2**15)
        low, _, high = text.partition("-")
        return cls(int(low), int(high or low))

    def __contains__(self, version: int) -> bool:
        return self.low <= version <= self.high


@dataclass(frozen=True)
class Message:
    api_key: int
    name: str  # "Produce"
    valid: Versions
    flexible: Versions
    fields: list[dict]
    structs: dict[str, list[dict]]  # common structs by name


def _json(text: str) -> dict:
    return json.loads("\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//")))


def load(jar: Path) -> tuple[dict[int, Message], dict[int, Message]]:
    """(requests, responses) by api key, from a kafka-clients jar."""
    requests, responses = {}, {}
    with zipfile.ZipFile(jar) as archive:
        for entry in archive.namelist():
            if not re.fullmatch(r"common/message/\w+(Request|Response)\.json", entry):
                continue
            spec = _json(archive.read(entry).decode())
            if "apiKey" not in spec or spec.get("type") not in ("request", "response"):
                continue
            message = Message(spec["apiKey"], re.sub(r"(Request|Response)$", "", spec["name"]),
                              Versions.parse(spec["validVersions"]), Versions.parse(spec.get("flexibleVersions")),
                              spec.get("fields", []), {s["name"]: s["fields"] for s in spec.get("commonStructs", [])})
            (requests if spec["type"] == "request" else responses)[message.api_key] = message
    if not responses:
        raise FileNotFoundError(f"no Kafka message definitions in {jar}")
    return requests, responses


def find_jar(libs: Path) -> Path:
    jars = sorted(Path(libs).glob("kafka-clients-*.jar"))
    jars = [j for j in jars if not j.name.endswith(("-test.jar", "-sources.jar", "-javadoc.jar"))]
    if not jars:
        raise FileNotFoundError(f"no kafka-clients jar in {libs}")
    return jars[0]


class _Walk:
    """One response body at one version: positions of its ErrorCode fields."""

    def __init__(self, data: bytes, message: Message, version: int):
        self.data, self.message, self.version = data, message, version
        self.flexible = version in message.flexible
        self.found: list[int] = []

    def struct(self, fields: list[dict], pos: int) -> int:
        for field in fields:
            if self.version not in Versions.parse(field.get("versions")):
                continue
            if self.flexible and self.version in Versions.parse(field.get("taggedVersions")):
                continue  # in the tagged section below
            pos = self.field(field, pos)
        if self.flexible:
            pos = skip_tagged_fields(self.data, pos)
        return pos

    def field(self, field: dict, pos: int) -> int:
        kind = field["type"]
        if kind.startswith("[]"):
            count, pos = self.length(pos, field, "array")
            element = kind[2:]
            for _ in range(max(count, 0)):
                pos = self.value(element, field, pos, in_array=True)
            return pos
        if kind == "int16" and field["name"] == "ErrorCode":
            self.found.append(pos)
        return self.value(kind, field, pos)

    def value(self, kind: str, field: dict, pos: int, in_array: bool = False) -> int:
        if kind in FIXED:
            return self.check(pos + FIXED[kind])
        if kind in ("string", "bytes", "records"):
            size, pos = self.length(pos, field, kind)
            return self.check(pos + max(size, 0))
        fields = field.get("fields") or self.message.structs.get(kind)
        if fields is None:
            raise FramingError(f"unknown type {kind} in {self.message.name}")
        if not in_array and self.version in Versions.parse(field.get("nullableVersions")):
            marker = self.data[self.check(pos + 1) - 1]
            pos += 1
            if marker == 0xFF:  # -1: null
                return pos
        return self.struct(fields, pos)

    def length(self, pos: int, field: dict, kind: str) -> tuple[int, int]:
        """A string's, bytes' or array's length (-1: null) and where its contents start."""
        if self.flexible and field.get("flexibleVersions") != "none":
            size, pos = read_uvarint(self.data, pos)
            return size - 1, pos
        if kind == "string":
            return _INT16.unpack_from(self.data, self.check(pos + 2) - 2)[0], pos + 2
        return _INT32.unpack_from(self.data, self.check(pos + 4) - 4)[0], pos + 4

    def check(self, end: int) -> int:
        if end > len(self.data):
            raise FramingError(f"{self.message.name} v{self.version} runs past the end of the response")
        return end


def error_code_offsets(body: bytes, message: Message, version: int) -> list[int]:
    """Positions in `body` of every ErrorCode of this response, at any depth (tagged ones aside)."""
    if version not in message.valid:
        raise FramingError(f"{message.name} has no version {version}")
    walk = _Walk(body, message, version)
    end = walk.struct(message.fields, 0)
    if end != len(body):
        raise FramingError(f"{message.name} v{version}: {len(body) - end} bytes left over after the last field")
    return walk.found


def with_error(body: bytes, offsets: list[int], code: int) -> bytes:
    patched = bytearray(body)
    for pos in offsets:
        _INT16.pack_into(patched, pos, code)
    return bytes(patched)
