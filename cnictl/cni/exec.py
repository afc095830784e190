"""Finding and running a CNI plugin binary: the one implementation the runtime and the delegating plugin share.

`find(kind, dirs)` is libcni's FindInPath: the first regular file `<dir>/<kind>` along CNI_PATH; a `type`
that names a path is refused before anything runs (CVE-2021-20206). `run(path, stdin, env)` executes it
with exactly the environment given, its stdout returned on success, its error object raised otherwise with
the plugin's own code (libcni pluginErr: the JSON on stdout, else a message from stderr, code 0).

A plugin that is not there, or is there but cannot be started, is CNI code 50 (`PLUGIN_NOT_FOUND`, the
spec's "plugin not available"), from the runtime (`cnictl cni add`) and from the plugin's delegated IPAM
alike: a runtime can then tell "not installed" from a failure inside a plugin (999 or the plugin's code).
libcni returns a plain Go error there, which a Go plugin's skel reports as 999 only because it has no code.

    >>> find("host-local", "/nonexistent")
    Traceback (most recent call last):
    ...
    cnictl.errors.CniError: failed to find plugin "host-local" in path [/nonexistent]
"""

from __future__ import annotations

import os

from cnictl.cni import types as T
from cnictl.errors import CniError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

PLUGIN_NOT_FOUND = T.PLUGIN_NOT_AVAILABLE
"""CNI code of a plugin that is not in CNI_PATH, or cannot be started (50)."""
TEXT_BUSY_RETRIES = 5  # libcni retries "text file busy" (a plugin binary being written) five times, 1 s apart


def find(kind: str, dirs: str | Sequence[str]) -> str:
    """The first regular file named *kind* in *dirs* (a `:`-separated CNI_PATH or a list); code 50 if none."""
    T.validate_plugin_type(kind)
    if isinstance(dirs, str):
        dirs = dirs.split(":")
    dirs = [d for d in dirs if d]
    if not dirs:
        raise CniError(PLUGIN_NOT_FOUND, "no paths provided", f'to find plugin "{kind}": CNI_PATH is empty')
    for d in dirs:
        path = os.path.join(d, kind)
        if os.path.isfile(path):
            return path
    raise CniError(PLUGIN_NOT_FOUND, f'failed to find plugin "{kind}" in path [{" ".join(dirs)}]')


def run(path: str, stdin: bytes, env: Mapping[str, str], *, stderr: Callable[[bytes], None] | None = None,
        timeout: float | None = None, sleep: Callable[[float], None] | None = None) -> bytes:
    """Run one plugin; its stdout on success, else its error (`plugin_error`) raised.

    *stderr*: None lets the plugin write to ours directly; a function gets what it wrote (and the error
    message may then quote it). *timeout*: seconds, then code 11. "text file busy" is retried (libcni)."""
    import subprocess

    for attempt in range(TEXT_BUSY_RETRIES + 1):
        try:
            proc = subprocess.run([path], input=stdin, env=dict(env), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE if stderr is not None else None, close_fds=True,
                                  timeout=timeout, check=False)
            break
        except subprocess.TimeoutExpired:
            raise CniError(T.TRY_AGAIN_LATER, f"plugin {path} timed out", f"it took over {timeout:g}s") from None
        except OSError as e:
            import errno

            if e.errno == errno.ETXTBSY:
                if attempt < TEXT_BUSY_RETRIES:
                    (sleep or _sleep)(1.0)
                    continue
                raise CniError(T.TRY_AGAIN_LATER, f"fork/exec {path}: text file busy") from None
            raise CniError(PLUGIN_NOT_FOUND, f"fork/exec {path}: {e.strerror}") from None
    err = proc.stderr or b""
    if err and stderr is not None:
        stderr(err)
    if proc.returncode != 0:
        raise plugin_error(proc.stdout, err)
    return proc.stdout


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


def go_quote(data: bytes) -> str:
    """Close to Go's %q of a byte slice: a double-quoted string with escapes."""
    import json

    return json.dumps(data.decode("utf-8", "backslashreplace"), ensure_ascii=False)


def plugin_error(stdout: bytes, stderr: bytes) -> CniError:
    """libcni's pluginErr (CNI.md item 74): the error object on stdout, else a message from stderr (code 0)."""
    import json

    if not stdout.strip():
        if not stderr:
            return CniError(T.UNKNOWN, "netplugin failed with no error message")
        return CniError(T.UNKNOWN, f"netplugin failed: {go_quote(stderr)}")
    try:
        obj = json.loads(stdout)
        if not isinstance(obj, dict):
            raise ValueError(f"cannot unmarshal {type(obj).__name__} into an error object")
        code = obj.get("code", 0)
        if isinstance(code, bool) or not isinstance(code, int) or code < 0:
            raise ValueError(f"invalid error code {code!r}")
        msg, details = obj.get("msg", ""), obj.get("details", "")
        if not isinstance(msg, str) or not isinstance(details, str):
            raise ValueError("msg and details must be strings")
    except (ValueError, RecursionError) as e:
        return CniError(T.UNKNOWN, f"netplugin failed but error parsing its diagnostic message {go_quote(stdout)}: {e}")
    return CniError(code, msg, details)
