"""Cluster backends and obtaining a Kafka distribution."""
