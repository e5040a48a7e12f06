"""The proxy: one listening port per broker, forwarding whole frames both ways, remembering each
request's api key and version by correlation id so the response can be recognised. Responses
on a connection keep their order: a delayed one holds back those behind it, as a slow broker
would. A control port takes JSON lines: add, remove and list rules, read per-API counts.

    {"op": "add", "node": 1, "rule": {...}}  {"op": "remove", "tag": "t"}  {"op": "clear"}
    {"op": "rules"}  {"op": "stats"}
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import random
import struct
from dataclasses import dataclass, field

from harness.kafkaproxy import framing, schema
from harness.kafkaproxy.rules import Action, Rule

log = logging.getLogger(__name__)
COUNTS = ("requests", "delayed", "dropped", "errored", "inspected", "unparsed")


@dataclass(frozen=True)
class Route:
    node: int
    listen: tuple[str, int]
    upstream: tuple[str, int]


@dataclass
class Proxy:
    routes: list[Route]
    responses: dict[int, schema.Message]
    rules: dict[int, list[Rule]] = field(default_factory=dict)
    # node -> API name -> counts
    stats: dict = field(default_factory=lambda: collections.defaultdict(
        lambda: collections.defaultdict(collections.Counter)))
    rng: random.Random = field(default_factory=random.Random)

    def api_name(self, key: int) -> str:
        return self.responses[key].name if key in self.responses else str(key)

    async def serve(self, control: tuple[str, int]) -> None:
        servers = [await asyncio.start_server(lambda r, w, route=route: self.connection(route, r, w), *route.listen)
                   for route in self.routes]
        servers.append(await asyncio.start_server(self.control, *control))
        await asyncio.gather(*(s.serve_forever() for s in servers))

    # ---- forwarding -----------------------------------------------------------------------------

    async def connection(self, route: Route, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            broker_r, broker_w = await asyncio.open_connection(*route.upstream)
        except OSError:
            client_w.close()
            return
        pending: collections.OrderedDict[int, framing.RequestHeader] = collections.OrderedDict()
        tasks = [asyncio.ensure_future(self.requests(route, client_r, broker_w, pending)),
                 asyncio.ensure_future(self.responses_of(route, broker_r, client_w, pending))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is not None:  # a proxy bug: say so rather than just hang up
                    log.error("node %s: connection closed by %r", route.node, task.exception())
        finally:
            for task in tasks:
                task.cancel()
            for writer in (client_w, broker_w):
                writer.close()

    async def requests(self, route: Route, reader, writer, pending) -> None:
        while (frame := await _read(reader)) is not None:
            header = framing.parse_request(frame)
            pending[header.correlation_id] = header
            self.stats[route.node][self.api_name(header.api_key)]["requests"] += 1
            writer.write(framing.LENGTH.pack(len(frame)))
            writer.write(frame)
            await writer.drain()

    async def responses_of(self, route: Route, reader, writer, pending) -> None:
        while (frame := await _read(reader)) is not None:
            header = _take(pending, framing.response_correlation(frame))
            rule = self.matching(route.node, header)
            if rule is not None:
                counts = self.stats[route.node][self.api_name(header.api_key)]
                if rule.action == Action.DROP:
                    counts["dropped"] += 1
                    return  # the connection closes with the response unsent
                if rule.action == Action.DELAY:
                    counts["delayed"] += 1
                    await asyncio.sleep(rule.delay_ms / 1000)
                elif rule.action == Action.INSPECT:
                    counts["inspected" if self.error_offsets(frame, header) is not None else "unparsed"] += 1
                else:
                    frame, rewritten = self.with_error(frame, header, rule.error_code)
                    counts["errored" if rewritten else "unparsed"] += 1
            writer.write(framing.LENGTH.pack(len(frame)))
            writer.write(frame)
            await writer.drain()

    def matching(self, node: int, header: framing.RequestHeader | None) -> Rule | None:
        if header is None:
            return None
        return next((r for r in self.rules.get(node, ()) if r.applies(header.api_key, self.rng)), None)

    def error_offsets(self, frame: bytes, header: framing.RequestHeader) -> list[int] | None:
        """Where the response's error codes are in `frame`; None if it cannot be read."""
        message = self.responses.get(header.api_key)
        if message is None:
            return None
        try:
            start = framing.response_body_start(frame, header.api_key, header.api_version in message.flexible)
            return [start + pos for pos in schema.error_code_offsets(frame[start:], message, header.api_version)]
        except (framing.FramingError, IndexError, KeyError, struct.error) as exc:
            log.warning("cannot read %s v%s: %s", message.name, header.api_version, exc)
            return None

    def with_error(self, frame: bytes, header: framing.RequestHeader, code: int) -> tuple[bytes, bool]:
        """The response with every ErrorCode set to `code`; unchanged (False) if it cannot be read."""
        offsets = self.error_offsets(frame, header)
        if not offsets:
            return frame, False
        return schema.with_error(frame, offsets, code), True

    # ---- control -------------------------------------------------------------------------------

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    answer = self.command(json.loads(line))
                except (ValueError, KeyError, TypeError) as exc:
                    answer = {"error": str(exc)}
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()

    def command(self, request: dict) -> dict:
        op = request["op"]
        if op == "add":
            rule = Rule.model_validate(request["rule"])
            self.rules.setdefault(int(request["node"]), []).append(rule)
            return {"ok": True}
        if op == "remove":
            removed = self._remove(lambda rule: rule.tag == request["tag"])
            return {"removed": len(removed)}
        if op == "clear":
            return {"removed": [f"{rule.tag} on node {node}" for node, rule in self._remove(lambda rule: True)]}
        if op == "rules":
            return {"rules": {node: [r.model_dump(mode="json") for r in rules] for node, rules in self.rules.items()}}
        if op == "stats":
            return {"stats": {node: {api: dict(c) for api, c in apis.items()} for node, apis in self.stats.items()}}
        raise ValueError(f"unknown op {op!r}")

    def _remove(self, which) -> list[tuple[int, Rule]]:
        removed = [(node, r) for node, rules in self.rules.items() for r in rules if which(r)]
        self.rules = {node: [r for r in rules if not which(r)] for node, rules in self.rules.items()}
        return removed


async def _read(reader: asyncio.StreamReader) -> bytes | None:
    try:
        return await framing.read_frame(reader)
    except (ConnectionError, asyncio.IncompleteReadError, framing.FramingError):
        return None


def _take(pending: collections.OrderedDict, correlation: int) -> framing.RequestHeader | None:
    """The request a response answers. Responses come in request order, so requests before it
    that got none (Produce with acks=0) are forgotten on the way."""
    while pending:
        correlation_id, header = pending.popitem(last=False)
        if correlation_id == correlation:
            return header
    return None
