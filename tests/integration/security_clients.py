"""A cluster the harness secured, taken as someone else's: `backend: external` with a client
`security:` block naming only its bootstrap, its CA and a login (shared by the secured-cluster
modules)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support import short_experiment

PASSWORD_ENV = "KC_TEST_CLUSTER_PASSWORD"
EXTERNAL_NAME = "sec3"  # tags what the harness does on this machine while it uses the cluster as external


def external_experiment(cluster, security: dict, tmp_path: Path, name: str = "external-secured") -> Path:
    """A short at-least-once run with a consumer killed, on `cluster` reached as external."""
    data = short_experiment("sasl-ssl-leader-kill", phases={"steady_s": 3, "faults_s": 6, "recovery_s": 3})
    data["name"] = name
    data["cluster"] = {"backend": "external", "name": EXTERNAL_NAME, "bootstrap": cluster.bootstrap_servers,
                       "node_ids": cluster.node_ids, "security": security}
    data["faults"] = {"kind": "timeline", "steps": [{"at": 2, "fault": {"fault": "kill-worker", "worker": "c1"}}]}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def kafka_chaos(*args: str, password: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({PASSWORD_ENV: password} if password is not None else {})}
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=300,
                          env=env, stdin=subprocess.DEVNULL)
