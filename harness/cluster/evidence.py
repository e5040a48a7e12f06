"""Broker logs and segment files that are plain files on this machine (the local backend):
where each log ends now, and each log's part since then copied into the run directory."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path


def file_marks(logs: dict[int, Path]) -> dict[int, int]:
    return {node: path.stat().st_size if path.exists() else 0 for node, path in logs.items()}


def copy_since(logs: dict[int, Path], marks: dict[int, int], into: Callable[[int], Path]) -> None:
    for node, path in logs.items():
        if path.exists():
            with open(path, "rb") as src, open(into(node), "wb") as dst:
                src.seek(marks.get(node, 0))
                shutil.copyfileobj(src, dst)
