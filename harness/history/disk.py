"""The run directory's record of the brokers' segment files, scanned after the run
(`harness.cluster.segments`) when acknowledged writes went missing:

    disk/scanned.json   one entry per node and partition: replica present, records, compressed batches
    disk/values.arrow   node, topic, partition, offset, leader_epoch, vid of every value the harness wrote
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

DISK_DIR = "disk"
SCANNED_FILE = "scanned.json"
VALUES_FILE = "values.arrow"


def write(run_dir: Path, scanned: list[dict], values: pd.DataFrame) -> None:
    folder = Path(run_dir) / DISK_DIR
    folder.mkdir(exist_ok=True)
    values.reset_index(drop=True).to_feather(folder / VALUES_FILE)
    (folder / SCANNED_FILE).write_text(json.dumps(scanned, indent=1))


def read(run_dir: Path) -> tuple[list[dict], pd.DataFrame] | None:
    """What `write` stored, or None when the run has no disk scan."""
    folder = Path(run_dir) / DISK_DIR
    if not (folder / SCANNED_FILE).exists():
        return None
    return json.loads((folder / SCANNED_FILE).read_text()), pd.read_feather(folder / VALUES_FILE)
