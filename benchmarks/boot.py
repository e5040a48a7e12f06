"""Boot and shutdown of a local 3-node cluster: cold (page cache dropped) and warm, median of N.

    python benchmarks/boot.py [--runs 5] [--kafka-version 4.4.0]

"Ready" is LocalCluster's definition: brokers registered, a quorum leader, and an RF=3 topic
fully in sync. Shutdown is the graceful path (SIGTERM, controlled shutdown). Peak RSS is sampled
per broker JVM every 100 ms from start to the end of shutdown.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psutil

from harness.cluster.local import LocalCluster
from harness.cluster.spec import ClusterSpec


def drop_page_cache() -> bool:
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


class RssSampler(threading.Thread):
    def __init__(self, cluster: LocalCluster):
        super().__init__(daemon=True)
        self.cluster, self.peak, self.stopped = cluster, {}, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.1):
            for node in self.cluster.nodes.values():
                try:
                    rss = psutil.Process(node.process.pid).memory_info().rss if node.process else 0
                except psutil.NoSuchProcess:
                    continue
                self.peak[node.id] = max(self.peak.get(node.id, 0), rss)


def one_boot(spec: ClusterSpec, cold: bool) -> tuple[float, float, dict[int, int]]:
    with tempfile.TemporaryDirectory(prefix="kc-boot-") as workdir:
        cluster = LocalCluster(spec, Path(workdir))
        cluster.dist  # resolve Kafka outside the timing
        if cold and not drop_page_cache():
            raise SystemExit("cold boot needs root to drop the page cache")
        sampler = RssSampler(cluster)
        sampler.start()
        started = time.monotonic()
        cluster.start()
        ready = time.monotonic() - started
        stopping = time.monotonic()
        cluster.destroy()
        shutdown = time.monotonic() - stopping
        sampler.stopped.set()
        sampler.join()
        return ready, shutdown, sampler.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kafka-version", default=None)
    args = parser.parse_args()
    spec = ClusterSpec(name="bench", subnet=60, port_base=25000, kafka_version=args.kafka_version)

    results = {"cold": [], "warm": []}
    for i in range(args.runs):
        for kind in ("cold", "warm"):
            ready, shutdown, peak = one_boot(spec, cold=kind == "cold")
            results[kind].append((ready, shutdown, peak))
            print(f"run {i + 1} {kind}: ready {ready:.2f}s, shutdown {shutdown:.2f}s, "
                  f"peak RSS MB {[round(v / 2**20) for v in peak.values()]}", flush=True)

    def median(kind: str, index: int) -> float:
        return statistics.median(r[index] for r in results[kind])

    shutdowns = [r[1] for kind in results for r in results[kind]]
    peaks = [v / 2**20 for kind in results for r in results[kind] for v in r[2].values()]
    print(f"boot_warm_s={median('warm', 0):.2f} boot_cold_s={median('cold', 0):.2f} "
          f"shutdown_s={statistics.median(shutdowns):.2f} peak_rss_mb_per_broker={max(peaks):.0f} "
          f"median_peak_rss_mb={statistics.median(peaks):.0f}")


if __name__ == "__main__":
    main()
