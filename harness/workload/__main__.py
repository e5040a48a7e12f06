"""Run one worker: `python -m harness.workload RUNTIME.json` (the launcher writes that file)."""

import sys

from harness.workload.worker import main

sys.exit(main(sys.argv[1:]))
