"""The `kafka-chaos` command's entry point. Only the standard library is loaded before Ctrl-C is
handled, so an interrupt while the harness is still starting up ends in one line (exit 130),
not a traceback."""

import signal
import sys


def main() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    try:
        from harness.cli.main import main as run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    run()
