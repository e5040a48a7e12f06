"""Size and render time of the HTML report of a two-minute run (goal: at most 2 MB).

    python benchmarks/report.py [--runs 3] [RUN_DIR]

Without RUN_DIR it first runs benchmarks/experiments/two-minute-nemesis.yaml (about 2.5
minutes on a real cluster) and measures that run's report; each measurement renders the
report again from the run directory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.report.html import write_report

EXPERIMENT = Path(__file__).parent / "experiments" / "two-minute-nemesis.yaml"


def fresh_run(out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "harness", "run", str(EXPERIMENT), "--out", str(out)], check=False)
    [run_dir] = [p for p in out.glob("*-two-minute-nemesis")]
    return run_dir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", nargs="?", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    run_dir = args.run_dir or fresh_run(Path(tempfile.mkdtemp(prefix="kc-report-bench-")))
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        report = write_report(run_dir)
        times.append(time.perf_counter() - started)
    run = json.loads((run_dir / "run.json").read_text())
    print(f"run: {run_dir} ({run['duration_s']} s, outcome {run['outcome']})")
    print(f"report_mb={report.stat().st_size / 1e6:.2f} render_s={statistics.median(times):.2f} "
          f"run_s={run['duration_s']}")


if __name__ == "__main__":
    main()
