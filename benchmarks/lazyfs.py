"""What lazyfs (power-loss's FUSE layer) costs: a producer's throughput against a 3-node cluster
whose data directories are on lazyfs, against the same cluster on plain directories.

    python benchmarks/lazyfs.py [--rounds 3] [--records 100000]

1 KB values, acks=all, a 3-partition topic with RF 3 (min ISR 2), default flush settings, then the
same with flush.messages=1 (every append fsynced: lazyfs's fsync only forgets the journal entry).
One cluster of each kind in turn; medians of the rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from throughput import produce_rate  # noqa: E402

from harness.cluster.local import LocalCluster  # noqa: E402
from harness.cluster.spec import ClusterSpec, NodeHooks  # noqa: E402


def measure(lazyfs: bool, rounds: int, records: int) -> dict[str, float]:
    spec = ClusterSpec(name="benchlz", subnet=72, port_base=28000, hooks=NodeHooks(lazyfs=lazyfs))
    rates: dict[str, list[float]] = {"default": [], "flush1": []}
    with tempfile.TemporaryDirectory(prefix="kc-bench-") as scratch, LocalCluster(spec, Path(scratch)) as cluster:
        admin = cluster.admin()
        admin.create_topic("default", 3, 3, {"min.insync.replicas": "2"})
        admin.create_topic("flush1", 3, 3, {"min.insync.replicas": "2", "flush.messages": "1"})
        cluster.wait_in_sync(["default", "flush1"])
        produce_rate(cluster.bootstrap_servers, "default", records // 5)  # warm up
        for _ in range(rounds):
            for topic in rates:
                rates[topic].append(produce_rate(cluster.bootstrap_servers, topic, records))
    return {topic: statistics.median(values) for topic, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    plain = measure(False, args.rounds, args.records)
    lazy = measure(True, args.rounds, args.records)
    for topic in plain:
        print(f"{topic}: plain_msgs_per_s={plain[topic]:.0f} lazyfs_msgs_per_s={lazy[topic]:.0f} "
              f"ratio={lazy[topic] / plain[topic]:.2f}")


if __name__ == "__main__":
    main()
