"""The `kafka-chaos` command's entry point. Only the standard library is loaded before Ctrl-C is
handled, so an interrupt while the harness is still starting up ends in one line (exit 130),
not a traceback."""

import signal
import sys

interrupted = False


def interrupt(signum, frame) -> None:
    """Ctrl-C: raised as KeyboardInterrupt, and remembered, because one that lands inside an
    extension module's import or a pydantic validator build comes out as some other exception."""
    global interrupted
    interrupted = True
    raise KeyboardInterrupt


def main() -> None:
    # The command runs inside the try too: a signal that arrives in an import's last C call is
    # handled at the next bytecode, which may already be past the import.
    try:
        signal.signal(signal.SIGINT, interrupt)  # even if started with SIGINT ignored
        from harness.cli.main import main as run
        run()
    except SystemExit:
        raise
    except BaseException as exc:
        if not (interrupted or isinstance(exc, KeyboardInterrupt)):
            raise
        sys.stderr.write("interrupted\n")
        sys.exit(130)
