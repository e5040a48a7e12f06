"""Where kafka-chaos keeps things outside the project: caches and cluster state."""

import os
from pathlib import Path


def cache_dir() -> Path:
    """Downloaded Kafka distributions and built tools (KAFKA_CHAOS_CACHE overrides)."""
    base = os.environ.get("KAFKA_CHAOS_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    ) / "kafka-chaos"
    return Path(base)


def crash_dir() -> Path:
    """Tracebacks of unexpected failures: the command says one line and where the rest is."""
    return state_dir() / "crashes"


def state_dir() -> Path:
    """State files of running clusters, so `cluster down` finds what a dead harness left."""
    base = os.environ.get("KAFKA_CHAOS_STATE") or Path(
        os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    ) / "kafka-chaos"
    return Path(base)
