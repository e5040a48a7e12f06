"""The Kafka-protocol proxy's cost with no fault, against Toxiproxy's pass-through, in the same
run on the same cluster (goal: at least half Toxiproxy's throughput).

    python benchmarks/kafkaproxy.py [--rounds 3] [--records 100000]

One 3-node cluster with both client paths (the CLIENT listener behind Toxiproxy, the PROTOCOL
listener behind the protocol proxy) and, for reference, the brokers' own listener. 1 KB values,
acks=all, a 3-partition topic with RF 3; the paths alternate each round; medians.
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
from harness.cluster.spec import ClusterSpec, ProxySpec  # noqa: E402

TOPIC = "bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    spec = ClusterSpec(name="benchkp", subnet=73, port_base=29000, proxy=ProxySpec(clients=True, kafka=True))
    with tempfile.TemporaryDirectory(prefix="kc-bench-") as scratch, LocalCluster(spec, Path(scratch)) as cluster:
        cluster.admin().create_topic(TOPIC, 3, 3, {"min.insync.replicas": "2"})
        cluster.wait_in_sync([TOPIC])
        paths = {"direct": cluster.bootstrap_servers,
                 "toxiproxy": ",".join(n.layout.client_proxy for n in cluster.brokers),
                 "kafkaproxy": ",".join(n.layout.protocol_proxy for n in cluster.brokers)}
        for bootstrap in paths.values():
            produce_rate(bootstrap, TOPIC, args.records // 10)  # warm up every path
        rates: dict[str, list[float]] = {path: [] for path in paths}
        for round_ in range(args.rounds):
            for path, bootstrap in paths.items():
                rates[path].append(produce_rate(bootstrap, TOPIC, args.records))
            print(f"round {round_ + 1}: " + " ".join(f"{p}={r[-1]:.0f}/s" for p, r in rates.items()), flush=True)
    median = {path: statistics.median(values) for path, values in rates.items()}
    print(" ".join(f"{path}_msgs_per_s={rate:.0f}" for path, rate in median.items())
          + f" kafkaproxy_vs_toxiproxy={median['kafkaproxy'] / median['toxiproxy']:.2f}")


if __name__ == "__main__":
    main()
