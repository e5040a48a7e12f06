"""The run directory's record of the brokers' segment files, scanned after the run
(`harness.cluster.segments`) when acknowledged writes went missing:

    scanned   one entry per node and partition: replica present, records, compressed batches
    values    node, topic, partition, offset, leader_epoch, vid of every value the harness wrote
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa

from harness.files import Unreadable, read_json, regular
from harness.rundir import RunDir

log = logging.getLogger(__name__)


def write(run: RunDir | Path, scanned: list[dict], values: pd.DataFrame) -> None:
    run = RunDir.of(run)
    run.disk.mkdir(exist_ok=True)
    values.reset_index(drop=True).to_feather(run.disk_values)
    run.disk_scanned.write_text(json.dumps(scanned, indent=1))


def read(run: RunDir | Path) -> tuple[list[dict], pd.DataFrame] | None:
    """What `write` stored, or None when the run has no disk scan, or when it is damaged (it is
    evidence only: the verdict stands without it)."""
    run = RunDir.of(run)
    if not run.disk_scanned.exists():
        return None
    try:
        scanned = read_json(run.disk_scanned, 64 * 2**20)
        if regular(run.disk_values) is None:
            raise Unreadable(f"{run.disk_values}: missing")
        with pa.memory_map(str(run.disk_values)) as source:
            values = pa.ipc.open_file(source).read_all()
            values.validate(full=True)  # before pandas touches its buffers
            values = values.to_pandas()
    except (Unreadable, pa.ArrowException, OSError) as exc:
        log.warning("disk scan left out: %s", exc)
        return None
    if not isinstance(scanned, list) or not all(isinstance(s, dict) for s in scanned) or "vid" not in values:
        log.warning("disk scan left out: %s is not what the scan writes", run.disk)
        return None
    return scanned, values
