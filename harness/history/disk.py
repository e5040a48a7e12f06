"""The run directory's record of the brokers' segment files, scanned after the run
(`harness.cluster.segments`) when acknowledged writes went missing:

    scanned   one entry per node and partition: replica present, records, compressed batches
    values    node, topic, partition, offset, leader_epoch, vid of every value the harness wrote
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from harness.rundir import RunDir


def write(run: RunDir | Path, scanned: list[dict], values: pd.DataFrame) -> None:
    run = RunDir.of(run)
    run.disk.mkdir(exist_ok=True)
    values.reset_index(drop=True).to_feather(run.disk_values)
    run.disk_scanned.write_text(json.dumps(scanned, indent=1))


def read(run: RunDir | Path) -> tuple[list[dict], pd.DataFrame] | None:
    """What `write` stored, or None when the run has no disk scan."""
    run = RunDir.of(run)
    if not run.disk_scanned.exists():
        return None
    return json.loads(run.disk_scanned.read_text()), pd.read_feather(run.disk_values)
