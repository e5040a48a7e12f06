"""Workload workers: producer, consumer, transformer and final reader, each its own OS process
writing its history to the run directory. Start them with harness.workload.launcher."""
