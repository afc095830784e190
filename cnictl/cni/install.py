"""`cni install --dir DIR`: put an executable `cnictl` into a CNI plugin directory, so runtimes find type `cnictl`.

The launcher is a two-line shell script that execs this installation's Python interpreter by absolute
path, isolated (`-I`: no current directory, no PYTHON* variables, no user site on sys.path, so a
runtime's working directory cannot shadow cnictl) and without `site` (`-S`, faster start-up; the
directories of cnictl and its dependencies are put on sys.path explicitly), running the plugin:

    #!/bin/sh
    exec /opt/cnictl/.venv/bin/python3 -I -S -c 'import gc; gc.disable(); import sys; sys.path[:0] = [...]; ...'

(`...`: `from cnictl.cni.plugin import main; main()`; the cyclic garbage collector is off for the one call
the process makes).

It is written atomically (`fsutil.atomic_write`) with mode 0755 and, when run as root, owned by root
(CNI_PATH directories must hold only root-owned files: the runtime executes whatever it finds there).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from cnictl.errors import ConfigError

PLUGIN_NAME = "cnictl"


def launcher_text(python: str | None = None) -> str:
    """`python -I -S` with cnictl's and its dependencies' directories put on sys.path by hand: skipping `site`
    (and, for an editable install, its import finder) saves ~10 ms on every call, paid once per container."""
    exe = str(Path(python or sys.executable).absolute())
    paths = import_roots()
    # gc.disable(): the process lives for one call; the cyclic collector would only run ~20 times over the
    # imports (2-3 ms of a call) to free nothing that matters
    code = f"import gc; gc.disable(); import sys; sys.path[:0] = {paths!r}; from cnictl.cni.plugin import main; main()"
    return f'#!/bin/sh\nexec {shlex.quote(exe)} -I -S -c {shlex.quote(code)} "$@"\n'


# what the plugin imports besides the standard library (nftables: the default firewall backend, often a
# distribution package outside the virtualenv)
PLUGIN_DEPENDENCIES = ("pyroute2", "nftables")


def import_roots() -> list[str]:
    """The sys.path entries the plugin needs: cnictl's own, those its dependencies are found in now, and the
    interpreter's site-packages. Taken from where the modules are, not from sysconfig alone: under `python -S`
    (as cnictl's own launcher runs) there is no `site`, so sys.prefix is not the virtualenv's and sysconfig
    names the system's directories (/usr/local/lib/python3.X/dist-packages)."""
    import importlib.util
    import sysconfig

    import cnictl

    roots = [str(Path(cnictl.__file__).resolve().parent.parent)]
    for name in PLUGIN_DEPENDENCIES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
            continue
        where = Path(spec.origin).parent  # nftables.py is a module; pyroute2/__init__.py a package
        roots.append(str(where.parent if spec.submodule_search_locations else where))
    venv = Path(sys.executable).parent.parent
    if (venv / "pyvenv.cfg").is_file():
        roots.append(sysconfig.get_paths("venv", vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    else:
        roots.append(sysconfig.get_paths()["purelib"])
    return list(dict.fromkeys(roots))


def install(directory: str) -> dict[str, str]:
    """Write DIR/cnictl; returns {"path": the launcher's path, "launcher": its text}."""
    if not directory:
        raise ConfigError("no plugin directory given", hint="example: --dir /opt/cni/bin")
    d = Path(directory).absolute()
    if d.exists() and not d.is_dir():
        raise ConfigError(f"{d} is not a directory", hint="give the CNI plugin directory, such as /opt/cni/bin")
    d.mkdir(mode=0o755, parents=True, exist_ok=True)
    path = d / PLUGIN_NAME
    text = launcher_text()
    import os

    from cnictl import fsutil

    # cnictl.launcher imports import_roots from here, so this module does not import it back (no cycle)
    fsutil.atomic_write(path, text, 0o755, dir_mode=None, chown=(0, 0) if os.geteuid() == 0 else None)
    return {"path": str(path), "launcher": text}
