"""The `cnictl` command's entry point: gives Ctrl-C its meaning from the first moment, then runs the CLI.

Until the command starts (imports, parsing) nothing can have changed, so Ctrl-C ends the process at once
with exit 130 and one line. While a change is applied, Ctrl-C raises KeyboardInterrupt and the plan rolls
back. Once the change has completed, Ctrl-C is held until the result is printed, and the exit is 0: the
change stands (see cnictl.plan.Progress). This module imports only the standard library's os and signal
and cnictl.plan, so the handler is in place a millisecond after the interpreter starts.

`cnictl attach` and `cnictl detach` run once per container, from scripts: main() builds a command tree of
just the top-level command the line names (cnictl.cli.main.build(only=...)), so the other commands'
modules are neither imported nor turned into click commands; typer still parses the line. The root's
--help is printed by cnictl.cli.roothelp without typer, byte for byte typer's screen (where it cannot be,
typer prints it from every top-level command with each group as its help line alone). An unknown command
and shell completion get the whole tree (its "did you mean", every name). See docs/performance.md.
"""

from __future__ import annotations

import os
import signal

from cnictl.plan import NOTHING_CHANGED, PROGRESS

# the root's options that take a value (cnictl.cli.main.root), and its flags that may come before a command
ROOT_VALUED = ("--netns", "--state-dir", "--firewall")
ROOT_FLAGS = ("--json", "--quiet", "-q", "--dry-run", "--explain")
HELP = ("--help", "-h")


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

    word = command_word(sys.argv[1:])
    completing = "_CNICTL_COMPLETE" in os.environ  # shell completion may complete any command
    if word == "" and not completing:  # the root's own help: printed without typer when it can be
        from cnictl.cli import roothelp

        shown = roothelp.show(no_args=not sys.argv[1:])
        if shown is not None:
            _flush_and_exit(shown)

    from cnictl.cli.main import COMMANDS, GROUPS, build, run

    tree = None  # the whole tree
    if completing:
        pass
    elif word in GROUPS or word in COMMANDS:
        tree = build(only=(word,))
    elif word == "":  # the root's own help
        tree = build(listing=True)
    try:
        run(tree)
        code: object = 0
    except SystemExit as e:
        code = e.code
    if code is not None and not isinstance(code, int):
        sys.stderr.write(f"{code}\n")
        code = 1
    _flush_and_exit(code or 0)


def command_word(argv: list[str]) -> str | None:
    """The first word of *argv* after the root's own options: the top-level command the line runs; "" when
    there is none and the root prints its help (no words at all, or -h/--help among the root's options);
    None for anything else (a value-taking option without its value, --version, an unknown option)."""
    i, helps = 0, not argv
    while i < len(argv):
        word = argv[i]
        if word in ROOT_FLAGS:
            i += 1
        elif word in HELP:
            helps, i = True, i + 1
        elif word in ROOT_VALUED and i + 1 < len(argv):
            i += 2
        elif "=" in word and word.split("=", 1)[0] in ROOT_VALUED:
            i += 1
        else:
            return None if word.startswith("-") or helps else word
    return "" if helps else None


def _flush_and_exit(code: int) -> None:
    import contextlib
    import sys

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (cnictl net ls | head): nothing more to say
            stream.flush()
    journal = sys.modules.get("cnictl.journal")  # (loaded only if a plan ran)
    if journal is not None:
        journal.close_slots()  # atexit does not run on os._exit: the empty journal slot goes now
    os._exit(code)
