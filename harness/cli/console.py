"""Output for people: rich tables and one-line messages on stderr, loaded only when printed."""

from __future__ import annotations

from functools import cache


@cache
def _console_class():
    from rich.console import Console

    class Quiet(Console):
        """rich's Console ends the process with exit 1 when its reader goes away; 1 means a
        violated invariant here, so the broken pipe goes to `main` instead."""

        def on_broken_pipe(self) -> None:
            raise BrokenPipeError

    return Quiet


def console(**options):
    return _console_class()(**options)


@cache
def _err():
    return console(stderr=True, highlight=False, soft_wrap=True)


def say(text: str) -> None:
    """One line for a person on stderr (never parsed as markup: it may quote anything)."""
    _err().print(text, markup=False)


def table(title: str, columns: tuple[str, ...], rows, width: int | None = None) -> None:
    from rich.table import Table

    shown = Table(title=title)
    for column in columns:
        shown.add_column(column)
    for row in rows:
        shown.add_row(*map(str, row))
    console(width=width).print(shown)


def status():
    """A spinner on stderr, or None when stderr is not a terminal (or under CI)."""
    import os

    err = console(stderr=True)
    return err.status("") if err.is_terminal and not os.environ.get("CI") else None
