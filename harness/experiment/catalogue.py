"""The experiment catalogue: one file per scenario, shipped inside the package (harness/catalogue,
which the project's top-level experiments/ points at), so `kafka-chaos list` works from a wheel."""

from __future__ import annotations

from pathlib import Path

from harness.experiment.loader import load_experiment
from harness.experiment.model import Experiment

CATALOGUE = Path(__file__).resolve().parents[1] / "catalogue"


def catalogue(directory: Path | None = None) -> list[tuple[Path, Experiment]]:
    folder = Path(directory) if directory else CATALOGUE
    return [(path, load_experiment(path)) for path in sorted(folder.glob("*.yaml"))]
