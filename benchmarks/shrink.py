"""How long shrinking takes, in runs and wall time, and how much it reduces a failing experiment.

    python benchmarks/shrink.py [--budget 30m] [--tries 2] [RUN_DIR]

Without RUN_DIR it first runs benchmarks/experiments/mixed-faults-lose-writes.yaml (8 fault
steps, one of which loses writes) until it fails, then shrinks that run with `kafka-chaos shrink`.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXPERIMENT = Path(__file__).parent / "experiments" / "mixed-faults-lose-writes.yaml"


def kafka_chaos(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True)


def failing_run(out: Path) -> Path:
    result = kafka_chaos("run", str(EXPERIMENT), "--until-fail", "--max", "3", "--out", str(out))
    caught = [line.split("[")[1].rstrip("]") for line in result.stdout.splitlines() if "CAUGHT-AS-EXPECTED" in line]
    if not caught:
        sys.exit(f"the experiment never lost writes in 3 runs:\n{result.stdout}")
    return Path(caught[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", nargs="?", type=Path)
    parser.add_argument("--budget", default="30m")
    parser.add_argument("--tries", default="2")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="kc-shrink-bench-"))
    run_dir = args.run_dir or failing_run(scratch / "runs")
    started = time.monotonic()
    result = kafka_chaos("shrink", str(run_dir), "--budget", args.budget, "--tries", args.tries,
                         "--out", str(scratch / "shrink"))
    seconds = time.monotonic() - started
    print(result.stdout + result.stderr)
    summary = re.search(r"shrunk (.*) in \d+ s and (\d+) runs", result.stdout)
    if summary:
        print(f"reduction={summary.group(1)!r} runs={summary.group(2)} wall_s={seconds:.0f}")


if __name__ == "__main__":
    main()
