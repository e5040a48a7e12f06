"""kafka-chaos: chaos experiments against real Kafka clusters with message-level verdicts."""

__version__ = "0.1.0"
