"""Broker "hosts" for the ssh and external backends' tests, built the way the local backend
builds nodes: a network namespace each on a lab bridge, each running its own sshd (Debian's
openssh-server) and a Kafka node this module starts itself, outside any backend. The harness
under test gets only the hosts' addresses, an SSH key, a known_hosts file and the experiment.

Each host's broker is started by a script of its own (`start.sh`: detaches, writes `kafka.pid`)
that the ssh backend also uses to start it again; its data directory is on a small disk of its
own (a tmpfs), so storage faults have something to fill.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from pathlib import Path

from harness.cluster.local import LocalCluster
from harness.cluster.spec import ClusterSpec
from harness.net.command import quietly, run
from harness.process import ProcessRef

SSHD = "/usr/sbin/sshd"


def available() -> str | None:
    """Why these hosts cannot be built here, or None."""
    if shutil.which("ip") is None or not Path(SSHD).exists():
        return "needs iproute2 and openssh-server (run.sh installs them)"
    return None


class Hosts:
    def __init__(self, workdir: Path, name: str = "sshlab", subnet: int = 90, nodes: int = 3, disk_mb: int = 256):
        self.workdir = Path(workdir)
        self.spec = ClusterSpec(name=name, subnet=subnet, nodes=nodes, disk_mb=disk_mb)
        self.kafka = LocalCluster(self.spec, self.workdir / "kafka")
        self.key = self.workdir / "id_ed25519"
        self.known_hosts = self.workdir / "known_hosts"
        self.sshd_pids: dict[int, Path] = {}

    # ---- what the harness under test is told -------------------------------------------------

    def address(self, node: int) -> str:
        return self.kafka.lab.address(node)

    @property
    def node_ids(self) -> list[int]:
        return self.kafka.node_ids

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap_servers

    def node_dir(self, node: int) -> Path:
        return self.kafka.node(node).dir

    def pid_file(self, node: int) -> Path:
        return self.node_dir(node) / "kafka.pid"

    def broker(self, node: int) -> dict:
        kafka = self.kafka.node(node)
        return {"start": [str(kafka.dir / "start.sh")], "pid_file": str(self.pid_file(node)),
                "data_dirs": [str(kafka.data_dir)], "log_file": str(kafka.log_file)}

    def ssh_cluster(self, **changes) -> dict:
        """An experiment's `cluster:` for these hosts over the ssh backend."""
        return {"backend": "ssh", "name": self.spec.name,
                "ssh": {"user": "root", "key_file": str(self.key), "known_hosts": str(self.known_hosts)},
                # the hosts share this machine's filesystem, so each names its own disk to fill
                "hosts": [{"address": self.address(n), "node_id": n, "broker": self.broker(n),
                           "disks": {"fill_dir": str(self.kafka.node(n).disk_dir)}} for n in self.node_ids]} | changes

    def external_cluster(self, **changes) -> dict:
        return {"backend": "external", "name": "extlab", "bootstrap": self.bootstrap,
                "node_ids": self.node_ids} | changes

    # ---- building and removing them ----------------------------------------------------------

    def start(self) -> "Hosts":
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.kafka._provision()  # bridge, namespaces, disks, configs, formatted storage
            self._keys()
            for node in self.node_ids:
                self._sshd(node)
                self._script(node)
                self.start_broker(node)
            self.kafka.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def start_broker(self, node: int) -> None:
        """Start the node's broker as its host would (in its namespace, detached), outside any backend."""
        kafka = self.kafka.node(node)
        run(["ip", "netns", "exec", kafka.layout.namespace, str(kafka.dir / "start.sh")])
        pid = int(self.pid_file(node).read_text())
        kafka.process = ProcessRef.of_process(__import__("psutil").Process(pid))

    def stop(self) -> None:
        for pid_file in self.sshd_pids.values():
            if pid_file.exists():
                quietly(["kill", pid_file.read_text().strip()])
        self.kafka.destroy()  # marked JVMs, disks, namespaces, bridge

    def _keys(self) -> None:
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)])
        known = []
        for node in self.node_ids:
            host_key = self.node_dir(node) / "ssh_host_ed25519_key"
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)])
            known.append(f"{self.address(node)} {Path(str(host_key) + '.pub').read_text().split(' ')[0]} "
                         f"{Path(str(host_key) + '.pub').read_text().split(' ')[1]}")
        self.known_hosts.write_text("\n".join(known) + "\n")
        (self.workdir / "authorized_keys").write_text(Path(str(self.key) + ".pub").read_text())

    def host_fingerprint(self, node: int) -> str:
        out = run(["ssh-keygen", "-l", "-f", str(self.node_dir(node) / "ssh_host_ed25519_key.pub")]).stdout
        return out.split()[1]

    def _sshd(self, node: int) -> None:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        folder = self.node_dir(node)
        pid_file = folder / "sshd.pid"
        config = folder / "sshd_config"
        config.write_text("\n".join([
            f"ListenAddress {self.address(node)}", "Port 22", f"HostKey {folder / 'ssh_host_ed25519_key'}",
            f"PidFile {pid_file}", f"AuthorizedKeysFile {self.workdir / 'authorized_keys'}",
            "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "UsePAM no", "StrictModes no", "Subsystem sftp internal-sftp", "LogLevel VERBOSE", ""]))
        run(["ip", "netns", "exec", self.kafka.lab.namespace(node), SSHD, "-f", str(config),
             "-E", str(folder / "sshd.log")])
        self.sshd_pids[node] = pid_file
        deadline = time.monotonic() + 10
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _script(self, node: int) -> None:
        """start.sh: the JVM detached from the SSH session (setsid, no inherited descriptors)."""
        kafka = self.kafka.node(node)
        java = kafka.command()[4:]  # without `ip netns exec NS`: sshd already runs inside it
        script = kafka.dir / "start.sh"
        script.write_text("#!/bin/sh\n"
                          f"cd {shlex.quote(str(kafka.dir))}\n"
                          f"setsid {shlex.join(java)} >> {shlex.quote(str(kafka.log_file))} 2>&1 < /dev/null &\n"
                          f"echo $! > {shlex.quote(str(self.pid_file(node)))}\n")
        script.chmod(0o755)

    # ---- looking at a host's state, as the tests need it ---------------------------------------

    def rules(self, node: int) -> list[str]:
        """Every iptables rule in the host's namespace (filter table)."""
        out = run(["ip", "netns", "exec", self.kafka.lab.namespace(node), "iptables", "-w", "-S"]).stdout
        return [line for line in out.splitlines() if not line.startswith("-P")]

    def logins(self, node: int) -> int:
        log = self.node_dir(node) / "sshd.log"
        return log.read_text().count("Accepted publickey") if log.exists() else 0

    def broker_pid(self, node: int) -> int:
        return int(self.pid_file(node).read_text())

    def broker_state(self, node: int) -> str:
        out = subprocess.run(["ps", "-o", "stat=", "-p", str(self.broker_pid(node))], capture_output=True, text=True)
        return out.stdout.strip()[:1] or "gone"

    def state(self) -> dict:
        """What a dry run must leave as it was: rules, broker pids and states, SSH logins."""
        return {n: (self.rules(n), self.broker_pid(n), self.broker_state(n), self.logins(n)) for n in self.node_ids}
