"""The chaos gate: the service's consumer settings, under a leader kill and a consumer crash,
lose no order. Runs with the kafka-chaos pytest plugin (installed with kafka-chaos)."""

from pathlib import Path

import yaml

from harness.pytest_plugin import assert_gate
from orders import settings

CHAOS = Path(__file__).resolve().parents[1] / "chaos"


def with_our_consumer(path: Path) -> dict:
    """The experiment, its consumer configured exactly as the service configures its own, and
    its crash aimed at the moment that setting is weakest: records committed but not yet shipped
    (when committing first), or shipped but not yet committed."""
    experiment = yaml.safe_load(path.read_text())
    for consumer in experiment["workload"]["consumers"]:
        consumer.update(group=settings.GROUP, commit=settings.commit_strategy(), client=dict(settings.CONSUMER))
    window = "committed-unprocessed" if settings.COMMIT_BEFORE_PROCESSING else "processed-uncommitted"
    for step in experiment["faults"]["steps"]:
        if step["fault"]["fault"] == "kill-worker":
            step["fault"]["window"] = window
    return experiment


def test_no_order_is_lost_when_the_leader_and_a_shipper_crash(chaos):
    assert_gate(chaos(with_our_consumer(CHAOS / "leader-kill.yaml")))
