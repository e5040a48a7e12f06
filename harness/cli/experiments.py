"""`kafka-chaos validate | list | schema`: experiment files, without running anything."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from harness.cli.console import say, table
from harness.errors import ExitCode, UsageError


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check experiment files without running anything: the format, what they mean, and that
    this machine's backend offers every capability their faults need."""
    from harness.experiment.loader import load_experiment

    failed = False
    for path in files:
        try:
            experiment = load_experiment(path, runnable=True)
            click.echo(f"ok  {path}: {experiment.name}")
        except UsageError as exc:
            say(f"kafka-chaos: {exc}")
            failed = True
    sys.exit(ExitCode.USAGE if failed else ExitCode.OK)


@click.command("list")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Catalogue folder [default: the catalogue kafka-chaos ships].")
def catalogue(directory: Path | None) -> None:
    """The experiment catalogue: name, seed scenarios, expected verdict, what it tests."""
    from harness.experiment.catalogue import catalogue as experiments

    table("kafka-chaos experiments", ("experiment", "scenarios", "expect", "what it tests"),
          [(e.name, ", ".join(map(str, e.scenarios)), e.expect.value,
            e.description.strip().splitlines()[0] if e.description else "") for _, e in experiments(directory)],
          width=200)


@click.command("schema")
def schema() -> None:
    """The JSON Schema of experiment files (for editors)."""
    from harness.experiment.model import Experiment

    click.echo(json.dumps(Experiment.model_json_schema(), indent=2))
