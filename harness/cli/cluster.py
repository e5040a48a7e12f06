"""`kafka-chaos cluster up | status | down`: a cluster that outlives the command."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.cli.console import say, table
from harness.errors import UsageError

NETWORK_MODES = ("auto", "namespaces", "loopback")  # harness.net.lab.NetworkMode, without importing it
SECURITY_PROTOCOLS = ("plaintext", "sasl_ssl", "ssl")  # harness.cluster.security.SecurityProtocol
name_option = click.option("--name", default="lab", show_default=True, help="Cluster name.")


@click.group()
def cluster() -> None:
    """Start, inspect and remove a Kafka cluster (local JVMs, or containers on Docker)."""


@cluster.command("up")
@click.option("--nodes", type=click.IntRange(1, 9), default=3, show_default=True,
              help="Brokers (each also a controller unless --controllers is given).")
@click.option("--controllers", type=click.IntRange(0, 5), default=0, show_default=True,
              help="Dedicated KRaft controllers (0: combined broker+controller nodes).")
@click.option("--kafka-version", default=None, help="Kafka version [default: KAFKA_HOME's, else the newest known].")
@click.option("--network", type=click.Choice(NETWORK_MODES), default="auto", show_default=True)
@click.option("--subnet", type=click.IntRange(0, 255), default=0, show_default=True,
              help="Namespace network: nodes live in 198.18.<subnet>.0/24.")
@click.option("--dir", "workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where node configs, data and logs go [default: the state folder].")
@click.option("--disk-mb", type=int, default=None,
              help="Give each node a disk of its own of this size (a tmpfs; the full-disk fault fills it).")
@click.option("--security", type=click.Choice(SECURITY_PROTOCOLS), default="plaintext", show_default=True,
              help="Listeners: SCRAM over TLS (sasl_ssl) or mutual TLS (ssl), with ACLs; a CA of the cluster's own.")
@click.option("--backend", type=click.Choice(("local", "docker")), default="local", show_default=True,
              help="JVMs on this machine, or containers on the Docker engine.")
@click.option("--image", default=None,
              help="Docker: the image nodes run [default: apache/kafka:<version>, else kafka-chaos/kafka:<version> "
                   "built here].")
@name_option
def up(nodes: int, controllers: int, kafka_version: str | None, network: str, subnet: int,
       workdir: Path | None, disk_mb: int | None, security: str, backend: str, image: str | None, name: str) -> None:
    """Start a cluster, wait until it is ready, leave it running and print its bootstrap servers."""
    from harness import paths
    from harness.cluster import backends
    from harness.cluster.backend import Capability
    from harness.cluster.backends import BackendName

    if image and backend != "docker":
        raise UsageError("--image is for --backend docker")
    spec = _spec(name=name, nodes=nodes, controllers=controllers, kafka_version=kafka_version, network=network,
                 subnet=subnet, disk_mb=disk_mb, security={"protocol": security},
                 docker={"image": image} if backend == "docker" else None)
    if backend == "docker" and spec.security.secured:
        raise UsageError("--security: backend docker runs plaintext clusters only")
    if backend == "docker":
        from harness.cluster.containers.engine import client

        client()  # no engine: one line before anything is said or started
    default = paths.state_dir() / name if backend == "local" else paths.state_dir() / "docker" / name
    started = backends.create(BackendName(backend), spec, workdir or default)
    say(f"starting {spec.nodes} node(s) of Kafka {started.kafka_version} ({backend})...")
    started.start(owned=False)  # it outlives this command
    if Capability.NETWORK not in started.capabilities:
        say("note: network faults are unavailable here (" + ("no CAP_NET_ADMIN: nodes share loopback)"
                                                             if backend == "local" else "they need root and the "
                                                             "Docker engine on this machine)"))
    if getattr(started, "material", None):
        say(f"secured ({security}): the CA, the admin's certificate and password (user kc-admin, a super user) "
            f"are in {started.material.folder}")
    click.echo(started.bootstrap_servers)


@cluster.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@name_option
def status(as_json: bool, name: str) -> None:
    """Nodes, addresses, pids, alive/paused and the active controller."""
    from harness.cluster import backends

    info = backends.attach(backends.backend_named(name), name).describe()
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    where = f"image {info['image']}" if "image" in info else f"{info['network']} network"
    table(f"cluster {info['name']}: Kafka {info['kafka_version']}, {where}, "
          f"controller {info['active_controller']}", ("node", "roles", "address", "pid", "status"),
          [(n["id"], "+".join(n["roles"]), n["address"], n["pid"] or "-", n["status"]) for n in info["nodes"]])
    click.echo(f"bootstrap servers: {info['bootstrap_servers']}")


@cluster.command("down")
@click.option("--name", default=None, help="Only this cluster [default: every kafka-chaos cluster].")
def down(name: str | None) -> None:
    """Stop the cluster and remove its processes, namespaces, bridge and rules, or its containers, network
    and volumes (those labelled kafka-chaos.cluster=NAME), also after a crash."""
    from harness.cluster import backends

    leftovers = backends.down(name)
    say("cluster down" + (f" (also removed: {', '.join(leftovers)})" if leftovers else ""))


@cluster.command("heal")
@click.argument("experiment", required=False, type=click.Path(path_type=Path))
@click.option("--name", default=None, help="Only this cluster [default: every cluster recorded here].")
def heal(experiment: Path | None, name: str | None) -> None:
    """Undo what faults left on a cluster in use, also after the harness was killed: the rules
    on its hosts and on this machine, toxics, fillers and read-only mounts, paused and stopped
    brokers. Give the experiment file when its hosts need a secret to log in."""
    from harness.cluster import backends

    config = None
    if experiment is not None:
        from harness.experiment.loader import load_experiment

        config = load_experiment(experiment).cluster
    done = backends.heal(name, config)
    say("healed" + (f": {'; '.join(done)}" if done else ": nothing was left"))


def _spec(**fields):
    from pydantic import ValidationError

    from harness.cluster.spec import ClusterSpec

    try:
        return ClusterSpec(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UsageError(f"invalid cluster {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
