"""How the service talks to Kafka: the settings its consumer runs with, in one place, so the
chaos gate tests exactly what production runs."""

GROUP = "shipping"
TOPIC = "orders"

# The service commits after it has shipped a batch: a crash ships some orders twice, never loses one.
COMMIT_BEFORE_PROCESSING = False

CONSUMER = {
    "session.timeout.ms": 10000,
    "heartbeat.interval.ms": 2000,
    "max.poll.interval.ms": 60000,
    "auto.offset.reset": "earliest",
}


def commit_strategy() -> str:
    return "before-processing" if COMMIT_BEFORE_PROCESSING else "after-processing"
