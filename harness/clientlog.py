"""Where librdkafka's own log lines go.

Under chaos, clients report every refused connection to a killed broker; that is expected, so
these lines are hidden unless the user asks for verbose output.
"""

import logging

CLIENT_LOG = logging.getLogger("harness.librdkafka")


def show_client_logs(show: bool) -> None:
    CLIENT_LOG.setLevel(logging.DEBUG if show else logging.CRITICAL)
