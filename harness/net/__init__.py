"""The lab network: namespaces and bridge for the local backend, partitions, degraded links."""
