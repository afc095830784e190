"""Launchers: small shell scripts that exec this installation's Python isolated and without `site`.

    #!/bin/sh
    exec /opt/cnictl/.venv/bin/python3 -I -S -c 'import sys; sys.path[:0] = [...]; from cnictl.cli.entry import main; main()' "$@"

`-I` keeps a caller's working directory and PYTHON* variables from shadowing cnictl; `-S` skips `site` (and an
editable install's import finder): ~10 ms less per start, and no window in which Ctrl-C hits `site` and Python
dies with "Fatal Python error: init_import_site". The code first puts a SIGINT handler in place that ends the
process quietly with exit 130 (nothing has changed that early); cnictl.cli.entry then installs the real one.
Under -S no `.pth` file runs, so an editable install's finder is never imported; the launcher needs none,
because it names the directories itself (cnictl's own and its dependencies'). See docs/performance.md.
scripts/setup.sh writes .venv/bin/cnictl and .venv/bin/cnictl-cni this way; `cnictl cni install` writes one
for runtimes. Run as `python -m cnictl.launcher PATH MODULE:FUNCTION`.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

# _signal and posix are built in (no file to find, no enum): the handler is in place within microseconds of
# the first statement. Not os: under -S nothing has imported it yet, and importing it (posixpath, stat, ...)
# takes long enough on a loaded machine for a Ctrl-C to land in it with a traceback.
GUARD = ("import posix, _signal; _signal.signal(2, lambda s, f: "
         "(posix.write(2, b'cnictl: interrupted; nothing was changed\\n'), posix._exit(130)))")


def text(entry: str, python: str | None = None, *, guard: bool = True, name: str = "cnictl") -> str:
    """The launcher of *entry* ("module:function") for the interpreter *python* (default: this one); the program
    sees *name* as sys.argv[0] (as in its usage lines)."""
    from cnictl.cni.install import import_roots

    module, _, func = entry.partition(":")
    exe = str(Path(python or sys.executable).absolute())
    paths = import_roots()
    code = (f"{GUARD}; " if guard else "") + f"import sys; sys.argv[0] = {name!r}; sys.path[:0] = {paths!r}; " \
        f"from {module} import {func}; {func}()"
    # with the guard, SIGINT is ignored from the shell to the guard's first statement: Python keeps an ignored
    # SIGINT as it is instead of installing its own handler, whose KeyboardInterrupt would print a traceback if
    # a Ctrl-C landed between its installation and the guard (a Ctrl-C in those few ms is dropped: the command
    # runs as if it had come later, and nothing it does is cut short)
    ignore = "trap '' INT\n" if guard else ""
    return f'#!/bin/sh\n{ignore}exec {shlex.quote(exe)} -I -S -c {shlex.quote(code)} "$@"\n'


def write(path: str | os.PathLike[str], content: str) -> Path:
    """Write *content* to *path* atomically, mode 0755 (root-owned when run as root)."""
    from cnictl.fsutil import atomic_write

    root = (0, 0) if os.geteuid() == 0 else None
    return atomic_write(Path(path).absolute(), content, 0o755, dir_mode=None, chown=root)


if __name__ == "__main__":
    if len(sys.argv) != 3 or ":" not in sys.argv[2]:
        sys.stderr.write("usage: python -m cnictl.launcher PATH MODULE:FUNCTION\n")
        sys.exit(2)
    write(sys.argv[1], text(sys.argv[2], guard=sys.argv[2] == "cnictl.cli.entry:main", name=Path(sys.argv[1]).name))
