"""The run directory: the contract between layers. Every artefact of a run has its name here and
nowhere else; writers and readers take a `RunDir` (or a `WorkerDir`) and ask it for paths.

    reports/<UTC timestamp>-<experiment>/
      experiment.yaml, experiment.json   the experiment as run (secrets redacted), its resolution
      events.jsonl                       phases, faults, cluster and disk events
      observer/                          samples.jsonl, events.jsonl, config.json, observer.log
      history/workers.jsonl              which worker incarnations the run started, how each ended
      history/<worker>.<incarnation>/    runtime.json, process.json, worker.log, <table>.arrows
      disk/                              scanned.json, values.arrow (segment files, when read)
      database/                          rows.arrow, offsets.arrow, postgres.log (runs with sink workers)
      cluster/node-<id>.log              each broker's log for the run
      verdict.json, run.json, report.html
      shrunk.yaml                        written by `kafka-chaos shrink` from a failing run

The record of how a run ended (`RunRecord`, `run.json`) lives beside it in `harness.rundir.record`.
"""

from harness.rundir.layout import INDEX_FILE, RunDir, WorkerDir

__all__ = ["INDEX_FILE", "RunDir", "WorkerDir"]
