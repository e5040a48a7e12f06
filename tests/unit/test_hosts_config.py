"""The ssh and external backends without a cluster: their config models, what each refuses at
validation, the lab-range check, redaction of their secrets, and a dry run (no connection)."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest
import yaml

from harness.cluster.ssh_config import SshClusterConfig, outside_lab
from harness.errors import UsageError
from harness.experiment.loader import parse
from harness.experiment.model import Experiment
from harness.net.lab import has_net_admin
from harness.orchestrator.dryrun import dry_run
from harness.redact import redact

EXAMPLES = Path(__file__).resolve().parents[2] / "harness" / "catalogue" / "existing-clusters"
CATALOGUE = Path(__file__).resolve().parents[2] / "harness" / "catalogue"
BROKER = {"start": ["/opt/kafka/start"], "pid_file": "/run/kafka.pid", "data_dirs": ["/data"], "log_file": "/l.log"}


def ssh(**changes) -> dict:
    return {"backend": "ssh", "hosts": [{"address": "198.18.90.11"}, {"address": "198.18.90.12"}],
            "broker": BROKER} | changes


def with_cluster(source: str, cluster: dict, **changes) -> str:
    data = yaml.safe_load((CATALOGUE / f"{source}.yaml").read_text()) | {"cluster": cluster} | changes
    return yaml.safe_dump(data, sort_keys=False)


@pytest.mark.parametrize("broker, problem", [
    ({**BROKER, "systemd_unit": "kafka.service"}, "either systemd_unit, or start"),
    ({k: v for k, v in BROKER.items() if k != "pid_file"}, "exactly one of pid_file and pid_command"),
    ({"systemd_unit": "kafka.service", "stop": ["x"], "data_dirs": ["/d"], "log_file": "/l"}, "not used"),
    ({**BROKER, "data_dirs": ["relative/dir"]}, "should match pattern"),
])
def test_how_the_broker_runs_must_be_said_once(broker, problem):
    with pytest.raises(UsageError, match=problem):
        parse(with_cluster("leader-kill-acks-all", ssh(broker=broker, hosts=[{"address": f"198.18.90.{i}"}
                                                                                for i in (11, 12, 13)])))


def test_ssh_hosts_are_the_nodes_and_their_ids_are_checked():
    config = SshClusterConfig.model_validate(ssh(hosts=[{"address": "a", "node_id": 4}, {"address": "b"}]))
    assert config.node_ids == [4, 2] and config.bootstrap_servers == "a:9092,b:9092"
    with pytest.raises(UsageError, match="node ids repeat"):
        parse(with_cluster("leader-kill-acks-all", ssh(hosts=[{"address": "a", "node_id": 1}, {"address": "b",
                                                                                                 "node_id": 1}])))
    with pytest.raises(UsageError, match=r"faults.steps\[0\].fault.target: no node 3: the cluster's nodes are 1, 5"):
        parse(with_cluster("leader-kill-acks-all", ssh(hosts=[{"address": "a", "node_id": 1}, {"address": "b",
                                                                                                 "node_id": 5}]),
                           topics=[{"name": "orders", "partitions": 3, "replication_factor": 2}],
                           faults={"kind": "timeline", "steps": [{"at": 1, "fault": {"fault": "kill", "target": 3}}]}))


def test_unknown_backend_names_the_choices():
    with pytest.raises(UsageError, match="cluster.backend: 'kubernetes' is not a backend; should be local, docker, "
                                         "ssh, external"):
        parse(with_cluster("leader-kill-acks-all", {"backend": "kubernetes"}))


@pytest.mark.skipif(not has_net_admin(), reason="client-side faults need CAP_NET_ADMIN here")
def test_external_refuses_what_needs_the_hosts_naming_the_capability():
    external = {"backend": "external", "bootstrap": "198.18.90.11:9092"}
    for source, fault, missing in [("leader-kill-acks-all", "kill", "processes"),
                                   ("minority-partition", "partition", "network"),
                                   ("full-disk-acks-all", "full-disk", "disks")]:
        with pytest.raises(UsageError, match=f"{fault} needs {missing}.*; backend external offers client-network, "
                                             "client-proxies, topology here"):
            parse(with_cluster(source, external), runnable=True)
    parse((EXAMPLES / "external-client-path.yaml").read_text(), runnable=True)  # client-side faults only
    with pytest.raises(UsageError, match="pick: controller|needs quorum"):
        parse(with_cluster("leader-kill-acks-all", external, faults={"kind": "timeline", "steps": [
            {"at": 1, "fault": {"fault": "cut-clients", "target": "controller"}}]}), runnable=True)


def test_ssh_offers_disks_only_where_the_config_allows():
    with pytest.raises(UsageError, match="full-disk needs disks"):
        parse(with_cluster("full-disk-acks-all", ssh(hosts=[{"address": f"198.18.90.{i}"} for i in (11, 12, 13)])),
              runnable=True)
    parse(with_cluster("full-disk-acks-all", ssh(hosts=[{"address": f"198.18.90.{i}"} for i in (11, 12, 13)],
                                                 disks={"fill_dir": "/data"})), runnable=True)
    # a host may name its own fill_dir; every host must allow storage faults, since a fault may pick any
    some = [{"address": "198.18.90.11", "disks": {"fill_dir": "/d1"}}, {"address": "198.18.90.12"},
            {"address": "198.18.90.13"}]
    with pytest.raises(UsageError, match="full-disk needs disks"):
        parse(with_cluster("full-disk-acks-all", ssh(hosts=some)), runnable=True)
    config = SshClusterConfig.model_validate(ssh(hosts=some, disks={"fill_dir": "/data"}))
    assert [config.disks_of(n).fill_dir for n in config.node_ids] == ["/d1", "/data", "/data"]
    own = [{"address": f"198.18.90.1{i}", "disks": {"fill_dir": f"/d{i}"}} for i in (1, 2, 3)]
    commands = dry_run(parse(with_cluster("full-disk-acks-all", ssh(hosts=own)), runnable=True), seed=1)
    assert {host: [c for c in listed if c.startswith("df ")] for host, listed in commands.items()} == \
        {f"198.18.90.1{i}": [f"df --output=avail -B1 /d{i}"] for i in (1, 2, 3)}, "each host fills its own disk"


def test_lab_range_and_outside():
    config = SshClusterConfig.model_validate(ssh(hosts=[{"address": "198.18.90.11"}, {"address": "198.19.1.2"},
                                                        {"address": "127.0.0.1"}, {"address": "10.1.2.3"}]))
    assert outside_lab(config) == ["127.0.0.1", "10.1.2.3"]


def test_ssh_secrets_are_redacted():
    data = Experiment.model_validate(yaml.safe_load(with_cluster("leader-kill-acks-all", ssh(
        ssh={"passphrase": "hunter2", "password": "swordfish"},
        hosts=[{"address": f"198.18.90.{i}"} for i in (11, 12, 13)])))).model_dump(mode="json")
    assert "hunter2" not in str(redact(data)) and "swordfish" not in str(redact(data))
    assert redact(data)["cluster"]["ssh"]["passphrase"] == "***"


def test_dry_run_lists_commands_per_host_and_connects_nowhere(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a dry run opened an SSH connection")

    monkeypatch.setattr(paramiko.SSHClient, "connect", refuse)
    experiment = parse((EXAMPLES / "ssh-leader-kill.yaml").read_text())
    commands = dry_run(experiment, seed=1)
    assert set(commands) == {"198.18.90.11", "198.18.90.12", "198.18.90.13"}
    for host, listed in commands.items():
        assert "systemctl show --property LoadState --value kafka.service" in listed
        assert "kill -s KILL '<pid>'" in listed and "systemctl start kafka.service" in listed, listed


def test_schema_names_both_backends():
    schema = str(Experiment.model_json_schema())
    assert "SshClusterConfig" in schema and "ExternalClusterConfig" in schema
