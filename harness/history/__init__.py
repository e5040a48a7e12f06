"""The history: what every client did, as append-only files in the run directory.

Workers write it (harness.history.writer); the checker and the report read it
(harness.history.load). The record layouts are in harness.history.schema and docs/HISTORY.md.
"""
