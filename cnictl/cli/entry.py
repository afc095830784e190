"""The `cnictl` command's entry point: gives Ctrl-C its meaning from the first moment, then runs the CLI.

Until the command starts (imports, parsing) nothing can have changed, so Ctrl-C ends the process at once
with exit 130 and one line. While a change is applied, Ctrl-C raises KeyboardInterrupt and the plan rolls
back. Once the change has completed, Ctrl-C is held until the result is printed, and the exit is 0: the
change stands (see cnictl.plan.Progress). This module imports only the standard library's os and signal
and cnictl.plan, so the handler is in place a millisecond after the interpreter starts.
"""

from __future__ import annotations

import os
import signal

from cnictl.plan import PROGRESS

NOTHING_CHANGED = "interrupted; nothing was changed"


def on_sigint(signum: int, frame: object) -> None:
    PROGRESS.interrupted = True
    if PROGRESS.phase == "done":
        return  # the change is complete: finish printing it, then exit 0
    if PROGRESS.phase == "startup":
        os.write(2, f"cnictl: {NOTHING_CHANGED}\n".encode())
        os._exit(130)
    raise KeyboardInterrupt


def install() -> None:
    """Put on_sigint in place (main thread only; a no-op elsewhere)."""
    try:
        if signal.getsignal(signal.SIGINT) is not on_sigint:
            signal.signal(signal.SIGINT, on_sigint)
    except ValueError:
        pass


def main() -> None:
    """Run the CLI, then leave at once: once the result is written there is no interpreter shutdown left for a
    late Ctrl-C to land in (Python restores the default SIGINT action while it finalises, which would kill the
    process after a change that completed)."""
    install()
    from cnictl.cli.main import run

    try:
        run()
        code: object = 0
    except SystemExit as e:
        code = e.code
    if code is not None and not isinstance(code, int):
        import sys

        sys.stderr.write(f"{code}\n")
        code = 1
    _flush_and_exit(code or 0)


def _flush_and_exit(code: int) -> None:
    import contextlib
    import sys

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (cnictl net ls | head): nothing more to say
            stream.flush()
    os._exit(code)
