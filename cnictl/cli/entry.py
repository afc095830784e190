"""The `cnictl` command's entry point: gives Ctrl-C its meaning from the first moment, then runs the CLI.

Until the command starts (imports, parsing) nothing can have changed, so Ctrl-C ends the process at once
with exit 130 and one line. While a change is applied, Ctrl-C raises KeyboardInterrupt and the plan rolls
back. Once the change has completed, Ctrl-C is held until the result is printed, and the exit is 0: the
change stands (see cnictl.plan.Progress). This module imports only the standard library's os and signal
and cnictl.plan, so the handler is in place a millisecond after the interpreter starts.

`cnictl attach` and `cnictl detach` run once per container, from scripts: for them main() builds a command
tree of just that command (cnictl.cli.main.build(only=...)), so the other commands' modules are neither
imported nor turned into click commands; typer still parses the line. Everything else (help, completion,
any other command) gets the whole tree. See docs/performance.md.
"""

from __future__ import annotations

import os
import signal

from cnictl.plan import PROGRESS

NOTHING_CHANGED = "interrupted; nothing was changed"

HOT = ("attach", "detach")  # run with a tree of themselves alone
# the root's options that take a value (cnictl.cli.main.root), and its flags that may come before a hot command
ROOT_VALUED = ("--netns", "--state-dir", "--firewall")
ROOT_FLAGS = ("--json", "--quiet", "-q", "--dry-run", "--explain")


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
    import sys

    from cnictl.cli.main import build, run

    hot = hot_command(sys.argv[1:])
    if hot is not None and "_CNICTL_COMPLETE" in os.environ:
        hot = None  # shell completion may complete any command: the whole tree
    try:
        run(build(only=(hot,)) if hot is not None else None)
        code: object = 0
    except SystemExit as e:
        code = e.code
    if code is not None and not isinstance(code, int):
        sys.stderr.write(f"{code}\n")
        code = 1
    _flush_and_exit(code or 0)


def hot_command(argv: list[str]) -> str | None:
    """The hot command (attach, detach) this command line runs, or None: only the root's own options may
    come before it, so that a tree of that command alone parses the line exactly as the whole tree would."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in ROOT_FLAGS:
            i += 1
        elif word in ROOT_VALUED:
            i += 2
        elif word.split("=", 1)[0] in ROOT_VALUED and "=" in word:
            i += 1
        else:
            return word if word in HOT else None
    return None


def _flush_and_exit(code: int) -> None:
    import contextlib
    import sys

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (cnictl net ls | head): nothing more to say
            stream.flush()
    os._exit(code)
