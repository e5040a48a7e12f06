"""The harness producer against Kafka's own ProducerPerformance, on one cluster, alternating.

    python benchmarks/producer.py [--rounds 3] [--records 1000000] [--security sasl_ssl|ssl]

Both send 100-byte values as fast as they can with acks=all (idempotence on, each client's
defaults otherwise) to a 6-partition topic with RF 3 on a local 3-node cluster. The harness
rate is taken from its own history (first invocation to last acknowledgement: every ack is
recorded); ProducerPerformance reports its own rate. One unmeasured round of each warms the
brokers first. Then a synthetic 10M-record history (5M sends, 5M reads) is loaded into
DataFrames (median of 3).

With --security, the same is measured on a plaintext cluster and then on a secured one (SASL_SSL
with SCRAM-SHA-512, or mutual TLS; ACLs on): the harness producer logs in as its own principal,
ProducerPerformance as the harness's admin; the secured ÷ plaintext ratio of each is printed.
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
from harness.cluster.security import SecuritySpec, java_admin_properties, write_private  # noqa: E402
from harness.cluster.spec import ClusterSpec  # noqa: E402
from harness.history.load import load_history  # noqa: E402
from harness.workload.config import ProducerConfig, Semantics  # noqa: E402
from harness.workload.launcher import Workload  # noqa: E402

TOPIC = "bench"


def harness_rate(cluster: LocalCluster, records: int, round_: int, scratch: Path) -> float:
    run_dir = scratch / f"harness-{round_}"
    with Workload(run_dir, cluster.bootstrap_servers, Semantics.AT_LEAST_ONCE, security=cluster.access) as workload:
        producer = workload.start(ProducerConfig(name="bench", topics=[TOPIC], messages=records, value_size=100))
        if producer.wait(600) != 0:
            raise SystemExit(f"harness producer failed: see {run_dir}")
        if workload.access:
            workload.access.close()
    sends = load_history(run_dir).sends
    if not (sends["outcome"] == "ok").all():
        raise SystemExit(f"harness producer: not every send acknowledged: {sends['outcome'].value_counts()}")
    return len(sends) / ((sends["complete_mono"].max() - sends["invoke_mono"].min()) / 1e9)


def perf_rate(cluster: LocalCluster, records: int, tools: Path, scratch: Path) -> float:
    config = scratch / "producer.properties"  # the admin's login on a secured cluster (mode 0600)
    write_private(config, "".join(f"{k}={v}\n" for k, v in (
        java_admin_properties(cluster.spec.security, cluster.material) if cluster.material else {}).items()))
    out = subprocess.run(
        [str(cluster.dist.java), "-Xmx512m", "-cp", f"{tools}/*", "org.apache.kafka.tools.ProducerPerformance",
         "--topic", TOPIC, "--num-records", str(records), "--record-size", "100", "--throughput", "-1",
         "--producer.config", str(config),
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


def measure(spec: ClusterSpec, rounds: int, records: int) -> tuple[float, float]:
    """Median rates (harness, ProducerPerformance) on a cluster of `spec`, one warm-up round first."""
    print(f"cluster: {spec.security.protocol}", flush=True)
    with tempfile.TemporaryDirectory(prefix="kc-bench-") as scratch, \
            LocalCluster(spec, Path(scratch) / "cluster") as cluster:
        tools = maven_libs(cluster.dist.version, artifact="kafka-tools")
        cluster.admin().create_topic(TOPIC, 6, 3, {"min.insync.replicas": "2"})
        cluster.wait_in_sync([TOPIC])
        perf_rate(cluster, records // 5, tools, Path(scratch))  # warm the brokers' JIT before measuring
        harness_rate(cluster, records // 5, -1, Path(scratch))
        harness, perf = [], []
        for round_ in range(rounds):
            perf.append(perf_rate(cluster, records, tools, Path(scratch)))
            harness.append(harness_rate(cluster, records, round_, Path(scratch)))
            print(f"round {round_ + 1}: ProducerPerformance {perf[-1]:,.0f}/s, harness {harness[-1]:,.0f}/s",
                  flush=True)
    return statistics.median(harness), statistics.median(perf)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--history-records", type=int, default=10_000_000)
    parser.add_argument("--security", choices=["plaintext", "sasl_ssl", "ssl"], default="plaintext",
                        help="also measure on a cluster secured so, and print secured ÷ plaintext")
    args = parser.parse_args()
    spec = ClusterSpec(name="bench", subnet=61, port_base=26000)
    h, p = measure(spec, args.rounds, args.records)
    secured = None
    if args.security != "plaintext":
        secured = measure(spec.model_copy(update={"security": SecuritySpec(protocol=args.security)}),
                          args.rounds, args.records)
    with tempfile.TemporaryDirectory(prefix="kc-bench-") as scratch:
        loaded = load_time(args.history_records, Path(scratch))
    print(f"ratio={h / p:.2f} harness_msgs_per_s={h:.0f} perf_msgs_per_s={p:.0f} "
          f"load_{args.history_records // 1_000_000}m_records_s={loaded:.2f}")
    if secured:
        sh, sp = secured
        print(f"{args.security}: ratio={sh / sp:.2f} harness_msgs_per_s={sh:.0f} perf_msgs_per_s={sp:.0f} "
              f"harness_secured_over_plaintext={sh / h:.2f} perf_secured_over_plaintext={sp / p:.2f}")


if __name__ == "__main__":
    main()
