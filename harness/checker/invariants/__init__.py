"""One module per family of invariants; importing them registers their checks."""

from harness.checker.invariants import log, mirror, order, processing, transactions, visibility  # noqa: F401
