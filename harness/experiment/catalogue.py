"""The experiment catalogue: the project's experiments/ folder, one file per scenario."""

from __future__ import annotations

from pathlib import Path

from harness.experiment.loader import load
from harness.experiment.model import Experiment

CATALOGUE = Path(__file__).resolve().parents[2] / "experiments"


def catalogue(directory: Path | None = None) -> list[tuple[Path, Experiment]]:
    folder = Path(directory) if directory else CATALOGUE
    return [(path, load(path)) for path in sorted(folder.glob("*.yaml"))]
