"""The `kafka-chaos` command (`harness.cli.main`)."""
