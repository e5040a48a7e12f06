"""The run directory's record of the brokers' segment files, scanned after the run
(`harness.cluster.segments`) when acknowledged writes went missing:

    disk/scanned.json   one entry per node and partition: replica present, records, compressed batches
    disk/values.arrow   node, topic, partition, offset, leader_epoch, vid of every value the harness wrote
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa

from harness.files import Unreadable, read_json, regular

log = logging.getLogger(__name__)

DISK_DIR = "disk"
SCANNED_FILE = "scanned.json"
VALUES_FILE = "values.arrow"


def write(run_dir: Path, scanned: list[dict], values: pd.DataFrame) -> None:
    folder = Path(run_dir) / DISK_DIR
    folder.mkdir(exist_ok=True)
    values.reset_index(drop=True).to_feather(folder / VALUES_FILE)
    (folder / SCANNED_FILE).write_text(json.dumps(scanned, indent=1))


def read(run_dir: Path) -> tuple[list[dict], pd.DataFrame] | None:
    """What `write` stored, or None when the run has no disk scan, or when it is damaged (it is
    evidence only: the verdict stands without it)."""
    folder = Path(run_dir) / DISK_DIR
    if not (folder / SCANNED_FILE).exists():
        return None
    try:
        scanned = read_json(folder / SCANNED_FILE, 64 * 2**20)
        if regular(folder / VALUES_FILE) is None:
            raise Unreadable(f"{folder / VALUES_FILE}: missing")
        with pa.memory_map(str(folder / VALUES_FILE)) as source:
            values = pa.ipc.open_file(source).read_all()
            values.validate(full=True)  # before pandas touches its buffers
            values = values.to_pandas()
    except (Unreadable, pa.ArrowException, OSError) as exc:
        log.warning("disk scan left out: %s", exc)
        return None
    if not isinstance(scanned, list) or not all(isinstance(s, dict) for s in scanned) or "vid" not in values:
        log.warning("disk scan left out: %s is not what the scan writes", folder)
        return None
    return scanned, values
