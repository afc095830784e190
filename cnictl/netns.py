"""Network namespaces: open existing ones (never create on open), create/remove named ones, enter them.

Named namespaces live under /run/netns exactly as `ip netns add` makes them, so `ip netns`
sees them. Everything here is in-process (setns/unshare through libc), no fork, no exec.

    >>> ref = NetnsRef.parse("web")
    >>> ref.path, ref.name
    ('/run/netns/web', 'web')
"""

from __future__ import annotations

import errno as errno_mod
import fcntl
import os

from cnictl.errors import ConfigError, ConflictError, KernelError, NetnsNotFoundError, cli
from cnictl.model import is_name  # namespace names follow the rule of network names
from cnictl.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    import ctypes  # loaded on the first libc call (_lib): most commands never make one

NETNS_RUN_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
NS_GET_NSTYPE = 0xB703  # ioctl on an nsfs file: which kind of namespace it is
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20
MNT_DETACH = 2

_libc: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _errno() -> int:
    """The errno of the last libc call made through _lib() (ctypes.get_errno)."""
    import ctypes

    return ctypes.get_errno()


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = _errno()
        raise KernelError(f"{what}: {os.strerror(err)} ({errno_mod.errorcode.get(err, err)})", errno=err)


_setns_addr: int | None = None


def setns_fd(fd: int) -> None:
    """Move the calling thread into the network namespace open at *fd*.

    Called straight through _ctypes (what ctypes.CDLL does underneath, without importing ctypes: start-up
    time of `attach` and the CNI ADD); a failure is made again through ctypes, which keeps the errno."""
    global _setns_addr
    import _ctypes

    if _setns_addr is None:
        _setns_addr = _ctypes.dlsym(_ctypes.dlopen(None, os.RTLD_NOW), "setns")  # type: ignore[arg-type]  # NULL: libc
    if _ctypes.call_function(_setns_addr, (fd, CLONE_NEWNET)) != 0:
        _check(_lib().setns(fd, CLONE_NEWNET), "setns")


def same_netns(a: str | int, b: str | int = "/proc/thread-self/ns/net") -> bool:
    """Are *a* and *b* (paths or open fds; *b* by default this thread's own) one network namespace?
    Compared by (st_dev, st_ino) of the nsfs files; False when either cannot be looked at."""
    try:
        sa = os.fstat(a) if isinstance(a, int) else os.stat(a)
        sb = os.fstat(b) if isinstance(b, int) else os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def validate_name(name: str) -> str:
    if not is_name(name):
        raise ConfigError(
            f'invalid namespace name "{name}": use 1-63 letters, digits, "_", "." or "-", '
            "starting with a letter or digit (example: web1)"
        )
    return name


@record(frozen=True)
class NetnsRef:
    """A network namespace given by name (under /run/netns) or by path (e.g. /proc/PID/ns/net)."""

    spec: str
    path: str
    name: str | None

    @classmethod
    def parse(cls, spec: str) -> NetnsRef:
        if not spec:
            raise ConfigError('empty network namespace (give a name such as "web" or a path such as /proc/PID/ns/net)')
        if "/" in spec:
            return cls(spec=spec, path=os.path.normpath(spec), name=None)
        validate_name(spec)
        return cls(spec=spec, path=f"{NETNS_RUN_DIR}/{spec}", name=spec)

    @property
    def key(self) -> str:
        """Stable identifier used for state files and the default container id."""
        if self.name is not None:
            return self.name
        from cnictl.model import sha256_hex

        return "path-" + sha256_hex(self.path.encode())[:12]

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def open(self) -> int:
        """Open the namespace read-only; never creates it; refuses files that are not network namespaces."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            hint = "create it with: " + cli("ns add " + self.spec) if self.name else "check the path"
            raise NetnsNotFoundError(f'network namespace "{self.spec}" not found', hint=hint) from None
        try:
            kind = fcntl.ioctl(fd, NS_GET_NSTYPE)
        except OSError:
            kind = -1
        if kind != CLONE_NEWNET:
            os.close(fd)
            raise ConfigError(
                f'"{self.spec}" is not a network namespace',
                hint="give a name under /run/netns or a path such as /proc/PID/ns/net",
            )
        return fd

    def ip_prefix(self) -> str:
        """How `ip` addresses this namespace in explained commands."""
        if self.name is not None:
            return f"ip -n {self.name}"
        return f"nsenter --net={self.path} ip"

    def exec_prefix(self) -> str:
        if self.name is not None:
            return f"ip netns exec {self.name}"
        return f"nsenter --net={self.path}"


class entered:  # noqa: N801 - used as a function: `with entered(path_or_fd, home):`
    """Run the body with this thread inside another network namespace, then come back.

    *home* is an open fd of the namespace to come back to (default: the current one, opened here).
    (A class rather than a contextlib.contextmanager: contextlib is one module less for the CNI plugin.)
    """

    __slots__ = ("fd", "home", "own", "target")

    def __init__(self, path_or_fd: str | int, home: int | None = None) -> None:
        self.target, self.home = path_or_fd, home
        self.own = self.fd = -1

    def _close(self) -> None:
        if self.home is None and self.own >= 0:
            os.close(self.own)
        if not isinstance(self.target, int) and self.fd >= 0:
            os.close(self.fd)
        self.own = self.fd = -1

    def __enter__(self) -> None:
        try:
            self.own = self.home if self.home is not None else os.open("/proc/thread-self/ns/net",
                                                                       os.O_RDONLY | os.O_CLOEXEC)
            self.fd = self.target if isinstance(self.target, int) else os.open(self.target, os.O_RDONLY | os.O_CLOEXEC)
            setns_fd(self.fd)
        except BaseException:
            self._close()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            setns_fd(self.own)
        finally:
            self._close()


def enter(ref: NetnsRef) -> int:
    """Move this thread into *ref* for good; returns an fd of the namespace it left."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    fd = ref.open()
    try:
        setns_fd(fd)
    finally:
        os.close(fd)
    return own


def list_named() -> list[str]:
    try:
        return sorted(n for n in os.listdir(NETNS_RUN_DIR) if not n.startswith("."))
    except FileNotFoundError:
        return []


def _ensure_run_dir() -> None:
    """Make /run/netns a shared mount point, as `ip netns add` does."""
    os.makedirs(NETNS_RUN_DIR, mode=0o755, exist_ok=True)
    lib = _lib()
    if lib.mount(b"", NETNS_RUN_DIR.encode(), b"none", MS_SHARED | MS_REC, None) == 0:
        return
    if _errno() != errno_mod.EINVAL:
        _check(-1, f"mount --make-rshared {NETNS_RUN_DIR}")
    _check(
        lib.mount(NETNS_RUN_DIR.encode(), NETNS_RUN_DIR.encode(), b"none", MS_BIND | MS_REC, None),
        f"mount --bind {NETNS_RUN_DIR} {NETNS_RUN_DIR}",
    )
    _check(
        lib.mount(b"", NETNS_RUN_DIR.encode(), b"none", MS_SHARED | MS_REC, None),
        f"mount --make-rshared {NETNS_RUN_DIR}",
    )


def create(name: str) -> str:
    """Create the named namespace /run/netns/NAME (like `ip netns add`); returns its path."""
    validate_name(name)
    path = f"{NETNS_RUN_DIR}/{name}"
    _ensure_run_dir()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0)
    except FileExistsError:
        raise ConflictError(
            f'network namespace "{name}" already exists', hint="pick another name or use --exist-ok"
        ) from None
    os.close(fd)
    lib = _lib()
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(lib.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        try:
            _check(lib.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", MS_BIND, None),
                   f"mount --bind /proc/thread-self/ns/net {path}")
        finally:
            setns_fd(own)
    except BaseException:
        try:  # noqa: SIM105 - no contextlib on the plugin's path (start-up time)
            os.unlink(path)
        except OSError:
            pass
        raise
    finally:
        os.close(own)
    return path


def remove(name: str, *, missing_ok: bool = False) -> bool:
    """Remove the named namespace; returns False if it was already gone."""
    validate_name(name)
    path = f"{NETNS_RUN_DIR}/{name}"
    if not os.path.exists(path):
        if missing_ok:
            return False
        raise NetnsNotFoundError(f'network namespace "{name}" not found', hint=f"see: {cli('ns ls')}")
    _lib().umount2(path.encode(), MNT_DETACH)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True
