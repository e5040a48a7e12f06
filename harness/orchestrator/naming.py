"""Per-run names on a shared cluster: experiment topics and consumer groups get the run's tag,
so a reused cluster never mixes one run's records into another's."""

from __future__ import annotations

import hashlib
from typing import Any

RENAMED_KEYS = {"topic", "topics", "input", "output", "dead_letter_topic"}


def run_tag(run_dir_name: str) -> str:
    return hashlib.sha1(run_dir_name.encode()).hexdigest()[:6]


def physical(logical: str, tag: str) -> str:
    return f"{logical}-{tag}"


def rename_topics(value: Any, tag: str, key: str | None = None) -> Any:
    """A copy of a dumped config with every topic name made physical (any depth)."""
    if isinstance(value, dict):
        return {k: rename_topics(v, tag, k) for k, v in value.items()}
    if isinstance(value, list):
        return [rename_topics(v, tag, key) for v in value]
    if key in RENAMED_KEYS and isinstance(value, str):
        return physical(value, tag)
    return value
