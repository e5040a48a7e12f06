"""The checker end to end (load + check) on a synthetic history with planted anomalies.

    python benchmarks/checker.py [--records 10000000] [--anomalies 100]

The history has a third each of sends, consumer-group reads and final reads (see synthetic.py);
`anomalies` of each planted kind. Peak RSS is that of this process (VmHWM).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from synthetic import write_history  # noqa: E402

from harness.checker.check import check  # noqa: E402


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--anomalies", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kc-check-") as run_dir:
        planted = write_history(Path(run_dir), args.records, args.anomalies)
        started = time.monotonic()
        result = check(Path(run_dir))
        elapsed = time.monotonic() - started
    found = {i.kind.value: i.count for i in result.invariants if i.count}
    print(f"planted {planted}")
    print(f"found {found} in {elapsed:.2f}s; errors: {result.errors or 'none'}")
    hits = sum(min(found.get(kind, 0), n) for kind, n in planted.items())
    print(f"records_per_s={args.records / elapsed:.0f} peak_rss_mb={peak_rss_mb():.0f} "
          f"anomalies_found={hits} anomalies_injected={sum(planted.values())}")


if __name__ == "__main__":
    main()
