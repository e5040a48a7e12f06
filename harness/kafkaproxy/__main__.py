"""`python -m harness.kafkaproxy --name NAME --control PORT --jar KAFKA_CLIENTS_JAR
--route NODE=LISTEN_HOST:PORT=UPSTREAM_HOST:PORT ...`: serves until SIGTERM. NAME marks the
process so a sweep finds it after a SIGKILLed harness."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from harness.kafkaproxy import schema
from harness.kafkaproxy.server import Proxy, Route


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def _route(text: str) -> Route:
    node, listen, upstream = text.split("=")
    return Route(int(node), _address(listen), _address(upstream))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.kafkaproxy")
    parser.add_argument("--name", required=True)
    parser.add_argument("--control", type=int, required=True)
    parser.add_argument("--jar", type=Path, required=True, help="kafka-clients jar: the message definitions")
    parser.add_argument("--route", type=_route, action="append", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    _, responses = schema.load(args.jar)
    proxy = Proxy(args.route, responses)
    print(f"{args.name}: {len(args.route)} routes, control on 127.0.0.1:{args.control}", flush=True)
    try:
        asyncio.run(proxy.serve(("127.0.0.1", args.control)))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
