"""The harness producer against Kafka's own ProducerPerformance, on one cluster, alternating.

    python benchmarks/producer.py [--rounds 3] [--records 1000000]

Both send 100-byte values as fast as they can with acks=all (idempotence on, each client's
defaults otherwise) to a 6-partition topic with RF 3 on a local 3-node cluster. The harness
rate is taken from its own history (first invocation to last acknowledgement: every ack is
recorded); ProducerPerformance reports its own rate. One unmeasured round of each warms the
brokers first. Then a synthetic 10M-record history (5M sends, 5M reads) is loaded into
DataFrames (median of 3).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from synthetic import write_history  # noqa: E402

from harness.cluster.distribution import maven_libs  # noqa: E402
from harness.cluster.local import LocalCluster  # noqa: E402
from harness.cluster.spec import ClusterSpec  # noqa: E402
from harness.history.load import load_history  # noqa: E402
from harness.workload.config import ProducerConfig, Semantics  # noqa: E402
from harness.workload.launcher import Workload  # noqa: E402

TOPIC = "bench"


def harness_rate(cluster: LocalCluster, records: int, round_: int, scratch: Path) -> float:
    run_dir = scratch / f"harness-{round_}"
    with Workload(run_dir, cluster.bootstrap_servers, Semantics.AT_LEAST_ONCE) as workload:
        producer = workload.start(ProducerConfig(name="bench", topics=[TOPIC], messages=records, value_size=100))
        if producer.wait(600) != 0:
            raise SystemExit(f"harness producer failed: see {run_dir}")
    sends = load_history(run_dir).sends
    if not (sends["outcome"] == "ok").all():
        raise SystemExit(f"harness producer: not every send acknowledged: {sends['outcome'].value_counts()}")
    return len(sends) / ((sends["complete_mono"].max() - sends["invoke_mono"].min()) / 1e9)


def perf_rate(cluster: LocalCluster, records: int, tools: Path) -> float:
    out = subprocess.run(
        [str(cluster.dist.java), "-Xmx512m", "-cp", f"{tools}/*", "org.apache.kafka.tools.ProducerPerformance",
         "--topic", TOPIC, "--num-records", str(records), "--record-size", "100", "--throughput", "-1",
         "--producer-props", f"bootstrap.servers={cluster.bootstrap_servers}", "acks=all"],
        capture_output=True, text=True, check=True).stdout
    return float(re.findall(r"records sent, ([\d.]+) records/sec", out)[-1])


def load_time(records: int, scratch: Path) -> float:
    run_dir = scratch / "synthetic"
    write_history(run_dir, records)
    times = []
    for _ in range(3):
        started = time.monotonic()
        load_history(run_dir)
        times.append(time.monotonic() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--history-records", type=int, default=10_000_000)
    args = parser.parse_args()
    spec = ClusterSpec(name="bench", subnet=61, port_base=26000)
    with tempfile.TemporaryDirectory(prefix="kc-bench-") as scratch, \
            LocalCluster(spec, Path(scratch) / "cluster") as cluster:
        tools = maven_libs(cluster.dist.version, artifact="kafka-tools")
        cluster.admin().create_topic(TOPIC, 6, 3, {"min.insync.replicas": "2"})
        cluster.wait_in_sync([TOPIC])
        perf_rate(cluster, args.records // 5, tools)  # warm the brokers' JIT before measuring
        harness_rate(cluster, args.records // 5, -1, Path(scratch))
        harness, perf = [], []
        for round_ in range(args.rounds):
            perf.append(perf_rate(cluster, args.records, tools))
            harness.append(harness_rate(cluster, args.records, round_, Path(scratch)))
            print(f"round {round_ + 1}: ProducerPerformance {perf[-1]:,.0f}/s, harness {harness[-1]:,.0f}/s",
                  flush=True)
    with tempfile.TemporaryDirectory(prefix="kc-bench-") as scratch:
        loaded = load_time(args.history_records, Path(scratch))
    h, p = statistics.median(harness), statistics.median(perf)
    print(f"ratio={h / p:.2f} harness_msgs_per_s={h:.0f} perf_msgs_per_s={p:.0f} "
          f"load_{args.history_records // 1_000_000}m_records_s={loaded:.2f}")


if __name__ == "__main__":
    main()
