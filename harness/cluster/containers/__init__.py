"""The docker backend: Kafka nodes in containers on a Docker engine (harness.cluster.containers.cluster),
a compose project's cluster taken over (compose), the image they run (image), and what a cluster
left behind (state)."""
