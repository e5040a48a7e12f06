"""Boot and shutdown of a 3-node cluster: cold (page cache dropped) and warm, median of N.

    python benchmarks/boot.py [--runs 5] [--kafka-version 4.4.0]
    python benchmarks/boot.py --backend docker [--runs 5] [--image-build]

"Ready" is the backends' shared definition (harness.cluster.kraft): brokers registered, a quorum
leader, and an RF=3 topic fully in sync. Shutdown is the graceful path (SIGTERM, controlled
shutdown). Peak RSS is sampled per broker JVM every 100 ms from start to the end of shutdown.

With --backend docker, each run boots a docker cluster and a local one, warm, one after the other
(so both see the same machine), and prints both medians and their ratio. --image-build also times
`kafka-chaos image build`: cold (the local images removed first, so debootstrap runs) and cached.
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
from harness.cluster.containers.spec import DockerSpec
from harness.cluster.spec import ClusterSpec


def drop_page_cache() -> bool:
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


class RssSampler(threading.Thread):
    def __init__(self, cluster):
        super().__init__(daemon=True)
        self.cluster, self.peak, self.stopped = cluster, {}, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.1):
            for node in self.cluster.nodes.values():
                try:
                    pid = node.pid
                    rss = psutil.Process(pid).memory_info().rss if pid else 0
                except (psutil.NoSuchProcess, Exception):  # noqa: BLE001  (mid-start or gone)
                    continue
                self.peak[node.id] = max(self.peak.get(node.id, 0), rss)


def one_boot(make, cold: bool) -> tuple[float, float, dict[int, int]]:
    with tempfile.TemporaryDirectory(prefix="kc-boot-") as workdir:
        cluster = make(Path(workdir))
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


def local_maker(spec: ClusterSpec):
    def make(workdir: Path) -> LocalCluster:
        cluster = LocalCluster(spec, workdir)
        cluster.dist  # resolve Kafka outside the timing
        return cluster

    return make


def docker_maker(spec: ClusterSpec):
    from harness.cluster.containers.cluster import DockerCluster
    from harness.cluster.containers.image import resolve

    image = resolve(spec.kafka_version)  # outside the timing: a warm boot has its image

    def make(workdir: Path) -> DockerCluster:
        return DockerCluster(spec, workdir, image=image)

    return make


def mb(peak: dict[int, int]) -> list[int]:
    return [round(v / 2**20) for v in peak.values()]


def local_only(args) -> None:
    spec = ClusterSpec(name="bench", subnet=60, port_base=25000, kafka_version=args.kafka_version)
    results = {"cold": [], "warm": []}
    for i in range(args.runs):
        for kind in ("cold", "warm"):
            ready, shutdown, peak = one_boot(local_maker(spec), cold=kind == "cold")
            results[kind].append((ready, shutdown, peak))
            print(f"run {i + 1} {kind}: ready {ready:.2f}s, shutdown {shutdown:.2f}s, peak RSS MB {mb(peak)}",
                  flush=True)

    def median(kind: str, index: int) -> float:
        return statistics.median(r[index] for r in results[kind])

    shutdowns = [r[1] for kind in results for r in results[kind]]
    peaks = [v / 2**20 for kind in results for r in results[kind] for v in r[2].values()]
    print(f"boot_warm_s={median('warm', 0):.2f} boot_cold_s={median('cold', 0):.2f} "
          f"shutdown_s={statistics.median(shutdowns):.2f} peak_rss_mb_per_broker={max(peaks):.0f} "
          f"median_peak_rss_mb={statistics.median(peaks):.0f}")


def image_build(version: str | None) -> None:
    from harness.cluster.containers import image
    from harness.cluster.containers.engine import client

    version = image.resolve_version(version)
    for name in (image.local(version), image.base_image()):
        if client().images.list(name=name):
            client().images.remove(name, force=True)
    started = time.monotonic()
    image.build(version, progress=lambda line: print(f"  {line}", flush=True))
    cold = time.monotonic() - started
    started = time.monotonic()
    image.build(version, progress=print)
    cached = time.monotonic() - started
    print(f"image_build_cold_s={cold:.1f} image_build_cached_s={cached:.2f}", flush=True)


def docker_beside_local(args) -> None:
    if args.image_build:
        image_build(args.kafka_version)
    local = local_maker(ClusterSpec(name="dkbenchl", subnet=124, port_base=40600, kafka_version=args.kafka_version))
    docker = docker_maker(ClusterSpec(name="dkbench", subnet=125, port_base=40800, kafka_version=args.kafka_version,
                                      docker=DockerSpec()))
    results = {"docker": [], "local": []}
    for i in range(args.runs):
        for kind, make in (("docker", docker), ("local", local)):
            ready, shutdown, peak = one_boot(make, cold=False)
            results[kind].append((ready, shutdown))
            print(f"run {i + 1} {kind} warm: ready {ready:.2f}s, shutdown {shutdown:.2f}s, peak RSS MB {mb(peak)}",
                  flush=True)
    boot = {kind: statistics.median(r[0] for r in rs) for kind, rs in results.items()}
    down = {kind: statistics.median(r[1] for r in rs) for kind, rs in results.items()}
    print(f"docker_boot_warm_s={boot['docker']:.2f} local_boot_warm_s={boot['local']:.2f} "
          f"ratio={boot['docker'] / boot['local']:.2f} (goal <= 1.5) "
          f"docker_shutdown_s={down['docker']:.2f} local_shutdown_s={down['local']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kafka-version", default=None)
    parser.add_argument("--backend", choices=("local", "docker"), default="local")
    parser.add_argument("--image-build", action="store_true", help="docker: also time the image build, cold and cached")
    args = parser.parse_args()
    docker_beside_local(args) if args.backend == "docker" else local_only(args)


if __name__ == "__main__":
    main()
