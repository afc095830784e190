"""The caller's environment, as libcni passes it to plugins: without what Python's start-up added itself.

Started without a locale (`env -i`, a systemd unit, a runtime's minimal environment), Python 3.7+
coerces the C locale (PEP 538): it sets `LC_CTYPE` to `C.UTF-8` (or `C.utf8`, `UTF-8`) in its own
environment, so `os.environ` holds a variable the caller never set, and every child would inherit it.
libcni passes the runtime's environment unchanged, and the CNI plugins here must see the same.

`caller_environ()` is `os.environ` with exactly that undone: `LC_CTYPE` is put back as the process got
it (left out, or its original value) when it differs from the exec'd environment (/proc/self/environ)
in the way coercion changes it: LC_ALL not set at exec (coercion never runs then) and the value one of
the coercion targets. Every other difference is the program's own doing and is kept.

    >>> caller_environ({"PATH": "/bin", "LC_CTYPE": "C.UTF-8"}, original={"PATH": "/bin"})
    {'PATH': '/bin'}
    >>> caller_environ({"PATH": "/bin", "LC_CTYPE": "de_DE.UTF-8"}, original={"PATH": "/bin"})
    {'PATH': '/bin', 'LC_CTYPE': 'de_DE.UTF-8'}
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Mapping

COERCION_TARGETS = ("C.UTF-8", "C.utf8", "UTF-8")  # CPython's _C_LOCALE_COERCION_TARGETS, in its order


def exec_environ() -> dict[str, str] | None:
    """The environment this process was exec'd with (/proc/self/environ), None if it cannot be read."""
    try:
        with open("/proc/self/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    out: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key:
            out.setdefault(os.fsdecode(key), os.fsdecode(value))  # the first wins, as getenv()
    return out


def caller_environ(environ: Mapping[str, str] | None = None, *,
                   original: Mapping[str, str] | None = None) -> dict[str, str]:
    """*environ* (default os.environ) without the LC_CTYPE that PEP 538 locale coercion added or changed."""
    env = dict(os.environ if environ is None else environ)
    orig = exec_environ() if original is None else original
    if orig is None:
        return env
    value = env.get("LC_CTYPE")
    if value is None or value == orig.get("LC_CTYPE") or value not in COERCION_TARGETS or orig.get("LC_ALL"):
        return env
    if "LC_CTYPE" in orig:
        env["LC_CTYPE"] = orig["LC_CTYPE"]
    else:
        del env["LC_CTYPE"]
    return env
