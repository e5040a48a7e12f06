"""`kafka-chaos image build`: the Kafka image the docker backend runs when apache/kafka cannot be
pulled, built on this machine without pulling anything."""

from __future__ import annotations

import time

import click

from harness.cli.console import say


@click.group()
def image() -> None:
    """The container image of the docker backend."""


@image.command("build")
@click.option("--kafka-version", default=None, help="Kafka version [default: KAFKA_HOME's, else the newest known].")
def build(kafka_version: str | None) -> None:
    """Build kafka-chaos/kafka:<version> (a Debian root file system from this machine's apt mirror,
    Java 17, and the Kafka jars the harness caches), unless it is built already; print its name."""
    from harness.cluster.containers import image as images

    started = time.monotonic()
    built = images.build(kafka_version, progress=say)
    say(f"{built} ready in {time.monotonic() - started:.0f} s")
    click.echo(built)
