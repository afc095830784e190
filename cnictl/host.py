"""The machine cnictl acts on: its network namespace, state directories and netlink sockets.

`Host(netns="h1")` makes a named namespace stand in for the machine: entering it moves this
thread there, so links, nftables rules and sysctls all land in it, and its state directory is
kept apart from other hosts' (/var/lib/cnictl/netns/h1 unless --state-dir says otherwise).
Firewall backends are not kept here: a use case builds the one a network names
(`cnictl.firewall.get_backend`) and hands it to the plans that need it.

    >>> Host(state_dir="/tmp/x").paths.ipam_root
    PosixPath('/tmp/x/ipam')
"""

from __future__ import annotations

import os

from cnictl.errors import PrivilegeError
from cnictl.fsutil import pathname
from cnictl.netns import NetnsRef, enter, entered, setns_fd
from cnictl.record import FrozenInstanceError, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    import _socket
    from pathlib import Path

    from cnictl.netlink.client import Netlink

DEFAULT_STATE_DIR = "/var/lib/cnictl"
DEFAULT_IPAM_ROOT = "/var/lib/cni/networks"
DEFAULT_SYSCTL_DIR = "/etc/sysctl.d"
DEFAULT_CNI_CACHE_DIR = "/var/lib/cni"  # libcni's: results/ under it
DEFAULT_CNI_CONF_DIR = "/etc/cni/net.d"  # cnitool's NETCONFPATH default


@record(frozen=True)
class Dirs:
    """The places of a `Paths` as strings (os.path): what the CNI plugin's ADD and DEL use, since importing
    pathlib (with re, enum, urllib.parse and fnmatch) would cost every plugin call ~5 ms."""

    state_dir: str
    ipam_root: str
    sysctl_dir: str
    cni_cache_dir: str = DEFAULT_CNI_CACHE_DIR
    cni_conf_dir: str = DEFAULT_CNI_CONF_DIR

    @property
    def networks(self) -> str:
        return os.path.join(self.state_dir, "networks")

    @property
    def attachments(self) -> str:
        return os.path.join(self.state_dir, "attachments")

    @property
    def lock(self) -> str:
        return os.path.join(self.state_dir, "lock")


def _path(text: str) -> Path:
    from pathlib import Path

    return Path(text)


class Paths:
    """Every default place cnictl reads or writes as its own. On the machine they are the system's
    (/var/lib/cnictl, /var/lib/cni/networks, /etc/sysctl.d, /var/lib/cni, /etc/cni/net.d); with a state
    directory (--state-dir, CNICTL_STATE_DIR, or --netns) all of them are under it (`Paths.under`).

    Each place is a `pathlib.Path` (`paths.ipam_root / "lab"`), made when asked for; `paths.dirs` holds the
    same places as strings, for the code paths that keep pathlib unimported (the CNI plugin's ADD and DEL).
    Immutable, compared and hashed by its places.

        >>> p = Paths.under("/tmp/x")
        >>> p.ipam_root, p.dirs.ipam_root, p == Paths.under(_path("/tmp/x/"))
        (PosixPath('/tmp/x/ipam'), '/tmp/x/ipam', True)
    """

    __slots__ = ("dirs",)
    dirs: Dirs

    def __init__(self, state_dir: str | os.PathLike[str], ipam_root: str | os.PathLike[str],
                 sysctl_dir: str | os.PathLike[str], cni_cache_dir: str | os.PathLike[str] = DEFAULT_CNI_CACHE_DIR,
                 cni_conf_dir: str | os.PathLike[str] = DEFAULT_CNI_CONF_DIR) -> None:
        object.__setattr__(self, "dirs", Dirs(pathname(state_dir), pathname(ipam_root), pathname(sysctl_dir),
                                              pathname(cni_cache_dir), pathname(cni_conf_dir)))

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field '{name}'")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field '{name}'")

    def __eq__(self, other: object) -> bool:
        return self.dirs == other.dirs if isinstance(other, Paths) else NotImplemented

    def __hash__(self) -> int:
        return hash(self.dirs)

    def __repr__(self) -> str:
        d = self.dirs
        return (f"Paths(state_dir={_path(d.state_dir)!r}, ipam_root={_path(d.ipam_root)!r}, "
                f"sysctl_dir={_path(d.sysctl_dir)!r}, cni_cache_dir={_path(d.cni_cache_dir)!r}, "
                f"cni_conf_dir={_path(d.cni_conf_dir)!r})")

    @classmethod
    def under(cls, base: str | os.PathLike[str]) -> Paths:
        """Everything in *base*: ipam/, sysctl.d/, cni/ (results/ under it) and net.d/."""
        b = pathname(base)
        return cls(state_dir=b, ipam_root=os.path.join(b, "ipam"), sysctl_dir=os.path.join(b, "sysctl.d"),
                   cni_cache_dir=os.path.join(b, "cni"), cni_conf_dir=os.path.join(b, "net.d"))

    @classmethod
    def machine(cls) -> Paths:
        """The machine's own places."""
        return cls(state_dir=DEFAULT_STATE_DIR, ipam_root=DEFAULT_IPAM_ROOT, sysctl_dir=DEFAULT_SYSCTL_DIR,
                   cni_cache_dir=DEFAULT_CNI_CACHE_DIR, cni_conf_dir=DEFAULT_CNI_CONF_DIR)

    @property
    def state_dir(self) -> Path:
        return _path(self.dirs.state_dir)

    @property
    def ipam_root(self) -> Path:
        return _path(self.dirs.ipam_root)

    @property
    def sysctl_dir(self) -> Path:
        return _path(self.dirs.sysctl_dir)

    @property
    def cni_cache_dir(self) -> Path:
        """`cnictl cni add|del|check|gc`: the result cache."""
        return _path(self.dirs.cni_cache_dir)

    @property
    def cni_conf_dir(self) -> Path:
        """`cnictl cni ...`: where the conflists are."""
        return _path(self.dirs.cni_conf_dir)

    @property
    def networks(self) -> Path:
        return _path(self.dirs.networks)

    @property
    def attachments(self) -> Path:
        return _path(self.dirs.attachments)

    @property
    def lock(self) -> Path:
        return _path(self.dirs.lock)


def resolve_paths(state_dir: str | os.PathLike[str] | None, netns: str | None) -> Paths:
    """--state-dir (else $CNICTL_STATE_DIR) holds everything; else --netns HOST keeps HOST's state apart in
    /var/lib/cnictl/netns/HOST; else the machine's places."""
    explicit = state_dir or os.environ.get("CNICTL_STATE_DIR") or None
    if explicit:
        text = os.fspath(explicit)
        return Paths.under(text if text.startswith("/") else os.path.join(os.getcwd(), text))  # Path.absolute()
    if netns:
        return Paths.under(os.path.join(DEFAULT_STATE_DIR, "netns", netns))
    return Paths.machine()


_SHELL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-")


def _shell_quote(word: str) -> str:
    """shlex.quote(word), without importing shlex and re on every Host (start-up time of the CNI plugin)."""
    if not word:
        return "''"
    if set(word) <= _SHELL_SAFE:
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


class Host:
    """Context for every operation: where state lives and how to reach the kernel."""

    def __init__(
        self,
        netns: str | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        firewall: str = "nftables",
    ) -> None:
        self.netns = NetnsRef.parse(netns) if netns else None
        self.paths = resolve_paths(state_dir, self.netns.key if self.netns else None)
        self.firewall_name = firewall  # --firewall: the backend new networks are given (the name only)
        from cnictl import errors

        errors.CLI_PREFIX = self.cli_prefix()  # hints printed from now on reach this host and state
        self._nl: Netlink | None = None
        self._nl_in: dict[str, Netlink] = {}
        self._fds: dict[str, int] = {}
        self._home_fd: int | None = None
        self._own_fd: int | None = None
        self._raw: _socket.socket | None = None

    # ---- life cycle --------------------------------------------------------------------
    def enter(self) -> Host:
        """Move this thread into the host namespace (if one was named)."""
        if self.netns is not None and self._home_fd is None:
            self._home_fd = enter(self.netns)
        return self

    def close(self) -> None:
        for nl in self._nl_in.values():
            nl.close()
        self._nl_in.clear()
        if self._nl is not None:
            self._nl.close()
            self._nl = None
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        if self._own_fd is not None:
            os.close(self._own_fd)
            self._own_fd = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        if self._home_fd is not None:
            setns_fd(self._home_fd)
            os.close(self._home_fd)
            self._home_fd = None

    def __enter__(self) -> Host:
        return self.enter()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- kernel handles ----------------------------------------------------------------
    def nl(self) -> Netlink:
        if self._nl is None:
            from cnictl.netlink.client import Netlink

            self._nl = Netlink()
        return self._nl

    def netns_fd(self, ref: NetnsRef) -> int:
        fd = self._fds.get(ref.path)
        if fd is None:
            fd = self._fds[ref.path] = ref.open()
        return fd

    def nl_for(self, ref: NetnsRef | None) -> Netlink:
        if ref is None:
            return self.nl()
        nl = self._nl_in.get(ref.path)
        if nl is None:
            from cnictl.netlink.client import Netlink

            nl = self._nl_in[ref.path] = Netlink(self.netns_fd(ref), self.home_fd())
        return nl

    def raw_socket(self, ref: NetnsRef | None) -> _socket.socket:
        """A plain rtnetlink socket: in *ref* (for one batch; the caller closes it), or the host's own (kept)."""
        from cnictl.netlink.rtnl import open_socket

        if ref is None:
            if self._raw is None:
                self._raw = open_socket()
            return self._raw
        with entered(self.netns_fd(ref), self.home_fd()):
            return open_socket()

    def home_fd(self) -> int:
        """An open fd of the host namespace (where this thread lives), to come back to after a visit."""
        if self._own_fd is None:
            self._own_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        return self._own_fd

    def forget(self, ref: NetnsRef) -> None:
        """Drop cached handles to a namespace (before it is removed)."""
        nl = self._nl_in.pop(ref.path, None)
        if nl is not None:
            nl.close()
        fd = self._fds.pop(ref.path, None)
        if fd is not None:
            os.close(fd)

    # ---- explain helpers ---------------------------------------------------------------
    def cli_prefix(self) -> str:
        """`cnictl` with the global options that reach this host and state (for hints to paste)."""
        words = ["cnictl"]
        default = DEFAULT_STATE_DIR
        if self.netns is not None:
            words += ["--netns", self.netns.spec]
            default = os.path.join(default, "netns", self.netns.key)
        if self.paths.dirs.state_dir != pathname(default):
            words += ["--state-dir", self.paths.dirs.state_dir]
        return " ".join(_shell_quote(w) for w in words)

    def ip_cmd(self) -> str:
        return f"ip -n {self.netns.spec}" if self.netns and self.netns.name else self._prefix() + "ip"

    def exec_prefix(self) -> str:
        return self._prefix()

    def _prefix(self) -> str:
        return f"{self.netns.exec_prefix()} " if self.netns else ""

    # ---- checks ------------------------------------------------------------------------
    @staticmethod
    def require_admin(what: str) -> None:
        if not has_net_admin():
            raise PrivilegeError(f"{what} needs root (CAP_NET_ADMIN)", hint="run it as root or with sudo")


def has_net_admin() -> bool:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) & (1 << 12))
    except OSError:
        pass
    return os.geteuid() == 0


