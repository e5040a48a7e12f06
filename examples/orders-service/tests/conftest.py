"""Nothing to set up: the kafka-chaos plugin brings the `kafka_cluster` and `chaos` fixtures."""
