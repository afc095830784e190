"""File locking with a timeout and atomic writes: the one implementation the state store, the link records,
host-local IPAM, port claims, the CNI cache and conflists, and the launchers share.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with locked(d / "lock", what="state lock", timeout=1.0):
    ...     _ = atomic_write(d / "net.json", "{}\\n")
    >>> (d / "net.json").read_text()
    '{}\\n'

Locks are `flock(2)` locks on a lock file: held by the open descriptor, dropped when it is closed (also when
the process dies), so a crashed cnictl never leaves one behind. A wait with a timeout polls `LOCK_NB` with a
growing delay (1 ms up to 50 ms) and then raises TransientError (exit 75, CNI code 11: safe to retry).
"""

from __future__ import annotations

import fcntl
import os
import time

from cnictl.errors import TransientError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import TypeVar

    P = TypeVar("P", Path, str)

DEFAULT_HINT = "another cnictl holds it; retry in a moment"


def pathname(path: str | os.PathLike[str]) -> str:
    """`str(pathlib.Path(path))` without importing pathlib (with re, enum, urllib.parse and fnmatch it costs
    the CNI plugin ~5 ms per call): no empty or `.` parts, no trailing slash, `//` kept only as a root.

    >>> pathname("/var//lib/./cni/"), pathname("a/b"), pathname(""), pathname("//x")
    ('/var/lib/cni', 'a/b', '.', '//x')
    """
    text = os.fspath(path)
    root = "/" if text.startswith("/") else ""
    if text.startswith("//") and not text.startswith("///"):
        root = "//"
    return root + "/".join(part for part in text.split("/") if part and part != ".") or "."


def lock_error(path: Path | str, timeout: float, what: str, hint: str = DEFAULT_HINT) -> TransientError:
    """The error a lock wait that ran out of time raises (one wording for every lock)."""
    return TransientError(f"timed out after {timeout:g}s waiting for the {what} {path}", hint=hint)


def _still_linked(path: str, fd: int) -> bool:
    """True if `fd` is still the file at `path` (it may have been unlinked, or replaced, while we waited)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    fst = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino)


def acquire(
    path: Path | str,
    *,
    exclusive: bool = True,
    timeout: float | None = 60.0,
    deadline: float | None = None,
    what: str = "lock",
    hint: str = DEFAULT_HINT,
    mode: int = 0o600,
    dir_mode: int | None = 0o777,
    flags: int = os.O_RDONLY,
    relinked: bool = False,
) -> int:
    """Open (creating it) and flock the lock file at *path*; return the descriptor that holds the lock.

    Closing the descriptor releases the lock. *timeout* None waits as long as it takes (a plain blocking
    flock); otherwise the wait ends at *deadline* (a time.monotonic() value, when the caller's own budget
    started earlier) or *timeout* seconds from now, with lock_error(). *dir_mode* None: the directory must
    exist already (FileNotFoundError otherwise); else it is made (with its parents) when missing. *relinked*:
    after taking the lock, check that the file is still the one at *path* and, if it was removed or replaced
    meanwhile (host-local's directory is deleted under waiters), open the new one and lock again.
    """
    path = pathname(path)
    if timeout is not None and deadline is None:
        deadline = time.monotonic() + timeout
    op = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    while True:
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, mode)
        except FileNotFoundError:
            if dir_mode is None:
                raise
            os.makedirs(os.path.dirname(path) or ".", mode=dir_mode, exist_ok=True)
            continue  # (and again, should the directory be removed between mkdir and open)
        try:
            _flock(fd, op, path, timeout, deadline, what, hint)
            if not relinked or _still_linked(path, fd):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _flock(fd: int, op: int, path: str, timeout: float | None, deadline: float | None, what: str, hint: str) -> None:
    if deadline is None:
        fcntl.flock(fd, op)
        return
    delay = 0.001
    while True:
        try:
            fcntl.flock(fd, op | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        now = time.monotonic()
        if now >= deadline:
            raise lock_error(path, timeout if timeout is not None else 0.0, what, hint) from None
        time.sleep(min(delay, deadline - now))
        delay = min(delay * 2, 0.05)


class locked:  # noqa: N801 - used as a function: `with locked(path, ...) as fd:`
    """Hold the flock on *path* for the body of the `with` (see acquire() for the arguments); released on
    the way out, exceptions included. Yields the descriptor. (A class, not a contextlib.contextmanager:
    contextlib is one module less for the CNI plugin to import.)"""

    __slots__ = ("args", "fd", "path")

    def __init__(
        self,
        path: Path | str,
        *,
        exclusive: bool = True,
        timeout: float | None = 60.0,
        what: str = "lock",
        hint: str = DEFAULT_HINT,
        mode: int = 0o600,
        dir_mode: int | None = 0o777,
        flags: int = os.O_RDONLY,
        relinked: bool = False,
    ) -> None:
        self.path = path
        self.args = {"exclusive": exclusive, "timeout": timeout, "what": what, "hint": hint, "mode": mode,
                     "dir_mode": dir_mode, "flags": flags, "relinked": relinked}
        self.fd: int | None = None

    def __enter__(self) -> int:
        self.fd = acquire(self.path, **self.args)  # type: ignore[arg-type]
        return self.fd

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)


def atomic_write(
    path: P,
    data: str | bytes,
    mode: int = 0o600,
    *,
    fsync: bool = False,
    dir_mode: int | None = 0o777,
    chown: tuple[int, int] | None = None,
) -> P:
    """Replace the file at *path* with *data* so that a reader sees the old content or the new, never half.

    The data goes to a fresh temporary file beside it (`.<name>.<pid>.tmp`, created O_EXCL|O_NOFOLLOW, so
    it is ours alone), which gets *mode* exactly (not masked by the umask) and *chown* (uid, gid) when given,
    is fsync'ed when *fsync* is set (the CNI cache: it must survive a crash), then renamed over *path*. On any
    failure the temporary file is removed and *path* keeps its old content. *dir_mode*: as in acquire().
    Returns *path* as given.
    """
    name = pathname(path)
    parent, base = os.path.split(name)
    tmp = os.path.join(parent, f".{base}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        try:
            fd = os.open(tmp, flags, mode)
            break
        except FileExistsError:  # left by a process of the same pid that died mid-write
            os.unlink(tmp)
        except FileNotFoundError:
            if dir_mode is None:
                raise
            os.makedirs(parent or ".", mode=dir_mode, exist_ok=True)
    try:
        try:
            os.fchmod(fd, mode)
            if chown is not None:
                os.fchown(fd, *chown)
            view = memoryview(data.encode() if isinstance(data, str) else data)
            while view:
                view = view[os.write(fd, view):]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name)
    except BaseException:
        try:  # noqa: SIM105 - no contextlib on the plugin's path (start-up time)
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
