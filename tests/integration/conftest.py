"""Fixtures the secured-cluster modules share."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness import api

CATALOGUE = Path(__file__).parents[2] / "harness" / "catalogue"


def short_experiment(name: str, **changes) -> dict:
    """A catalogue experiment with short phases (and `changes`)."""
    data = yaml.safe_load((CATALOGUE / f"{name}.yaml").read_text())
    data["phases"] = {"steady_s": 3, "faults_s": 12, "recovery_s": 4}
    return {**data, **changes}


@pytest.fixture(scope="session")
def plaintext_leader_kill(tmp_path_factory):
    """The secured leader-kill experiment on a plaintext cluster: the verdict secured runs must match."""
    experiment = {**short_experiment("sasl-ssl-leader-kill"), "cluster": {}}
    with api.Session(out=tmp_path_factory.mktemp("plaintext"), home=dict(name="secp", subnet=62,
                                                                          port_base=23300)) as session:
        return session.run(experiment, seed=11)
