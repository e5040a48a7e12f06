"""A proxy on the client path that understands Kafka's protocol, so a fault can act on one API:
`framing` (length-prefixed frames, request and response headers, varints), `schema` (Kafka's own
message definitions, read from the cluster's kafka-clients jar, to find a response's error
codes at any version), `rules` (which API, what to do), `server` (the asyncio proxy and its
control port), `client` (the harness's side of the control port); `python -m harness.kafkaproxy`."""
