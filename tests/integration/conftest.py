"""Fixtures the secured-cluster modules share."""

from __future__ import annotations

import pytest

from harness import api
from tests.support import short_experiment


@pytest.fixture(scope="session")
def plaintext_leader_kill(tmp_path_factory):
    """The secured leader-kill experiment on a plaintext cluster: the verdict secured runs must match."""
    experiment = {**short_experiment("sasl-ssl-leader-kill"), "cluster": {}}
    with api.Session(out=tmp_path_factory.mktemp("plaintext"),
                     home=dict(name="secp", subnet=65, port_base=32000)) as session:
        return session.run(experiment, seed=11)
