"""One module per family of invariants; importing them registers their checks."""

from harness.checker.invariants import log, mirror, order, processing, state, transactions, visibility  # noqa: F401
