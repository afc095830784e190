"""The host-local reservation store: one directory per network, byte-compatible with the CNI reference plugin.

Layout of `<dataDir>/<network>/` (identical to containernetworking/plugins host-local, so cnictl and
the reference plugin can share one directory and see each other's reservations):

- `lock`: empty file, the `flock(LOCK_EX)` target serialising every change (created 0750);
- `<ip>` (canonical address string, e.g. `10.1.0.5`, `2001:db8:1::2`): one reservation, created with
  `O_EXCL` and mode 0600, holding exactly `b"<container_id>\\r\\n<ifname>"` (no trailing newline);
  legacy files hold only the bare container id;
- `last_reserved_ip.<N>`: the last address reserved from range set N, where round-robin resumes.

Allocation never lists the directory: it tries `O_EXCL` creates from `last_reserved_ip.<N>`+1 on, so
its cost does not grow with the number of reservations. Release, listing and lookup scan.

    >>> import tempfile, pathlib
    >>> from cnictl.ipam.allocator import Range
    >>> store = HostLocalStore(pathlib.Path(tempfile.mkdtemp()) / "lab")
    >>> [lease.cidr for lease in store.allocate([Range.build("10.20.0.0/24")], "c1", "eth0")]
    ['10.20.0.2/24']
    >>> (store.directory / "10.20.0.2").read_bytes()
    b'c1\\r\\neth0'
"""

from __future__ import annotations

import _thread  # threading.RLock is _thread.RLock; threading itself costs start-up time
import errno
import ipaddress
import os
import time

from cnictl import fsutil
from cnictl.errors import ConfigError, ConflictError, IpamExhaustedError, NotFoundError, TransientError, cli
from cnictl.ipam.allocator import IPAddress, Lease, Range, parse_ip
from cnictl.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

LOCK_NAME = "lock"
LAST_RESERVED_PREFIX = "last_reserved_ip."
LINE_BREAK = "\r\n"
_LOCK_HINT = "another cnictl or CNI plugin holds it; retry"

__all__ = ["LAST_RESERVED_PREFIX", "LINE_BREAK", "LOCK_NAME", "Allocation", "HostLocalStore"]


@record(frozen=True)
class Allocation:
    """One reservation file: who holds `ip` (legacy bare-id files have `ifname` "")."""

    ip: IPAddress
    container_id: str
    ifname: str

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form with snake_case keys."""
        return {"ip": str(self.ip), "container_id": self.container_id, "ifname": self.ifname}


def _ip_key(ip: IPAddress) -> tuple[int, int]:
    return ip.version, int(ip)


def _parse_holder(data: bytes) -> tuple[str, str]:
    text = data.decode("utf-8", "replace")
    container_id, sep, ifname = text.partition(LINE_BREAK)
    if not sep:
        return text.strip(), ""
    return container_id.strip(), ifname.strip()


def _matches(data: bytes, container_id: str, ifname: str) -> bool:
    """host-local's rule: trimmed content equals `id\\r\\nifname`, or (legacy) the bare id."""
    text = data.decode("utf-8", "replace").strip()
    return text in (f"{container_id}{LINE_BREAK}{ifname}", container_id)


def _unlink(path: str) -> None:
    """`Path(path).unlink(missing_ok=True)`."""
    try:  # noqa: SIM105 - no contextlib on the plugin's path (start-up time)
        os.unlink(path)
    except FileNotFoundError:
        pass


class _Held:
    """`with store._locked(create) as acquired` (and `store.locked()`, *missing* set): a class rather than
    a contextlib.contextmanager, so the CNI plugin's path does not import contextlib."""

    __slots__ = ("acquired", "create", "missing", "store")

    def __init__(self, store: HostLocalStore, create: bool, missing: bool) -> None:
        self.store, self.create, self.missing, self.acquired = store, create, missing, False

    def __enter__(self) -> bool:
        self.acquired = self.store._acquire(self.create)
        if self.missing and not self.acquired:
            raise NotFoundError(
                f"IPAM store {self.store.dirpath} does not exist",
                hint=f"nothing is allocated in network {self.store.network} yet",
            )
        return self.acquired

    def __exit__(self, *exc: object) -> None:
        if self.acquired:
            self.acquired = False
            self.store._release_lock()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class HostLocalStore:
    """Reservations of one network in `directory` (`<dataDir>/<network name>`), host-local format."""

    previous_last: dict[int, IPAddress | None]
    """After allocate(): each range's last_reserved_ip before the call (for an exact undo)."""

    def __init__(self, directory: Path | str, lock_timeout: float = 30.0) -> None:
        self.dirpath = fsutil.pathname(directory)  # the directory as a string (`directory`: as a Path)
        self._lock_file = os.path.join(self.dirpath, LOCK_NAME)
        self.lock_timeout = lock_timeout
        self._mutex = _thread.RLock()
        self._depth = 0
        self._fd: int | None = None

    def __repr__(self) -> str:
        return f"HostLocalStore({self.dirpath!r})"

    @property
    def directory(self) -> Path:
        """`<dataDir>/<network name>`."""
        from pathlib import Path

        return Path(self.dirpath)

    @property
    def network(self) -> str:
        """Network name: the directory's basename, as host-local derives the directory from it."""
        return os.path.basename(self.dirpath)

    @property
    def lock_path(self) -> Path:
        """The flock target `<dir>/lock`."""
        from pathlib import Path

        return Path(self._lock_file)

    # -- locking -----------------------------------------------------------------------------------

    def _timeout_error(self) -> TransientError:
        return fsutil.lock_error(self._lock_file, self.lock_timeout, "IPAM lock", _LOCK_HINT)

    def _acquire(self, create: bool) -> bool:
        """Take the lock (re-entrant within this object); False if the store does not exist."""
        deadline = time.monotonic() + self.lock_timeout
        if not self._mutex.acquire(timeout=max(self.lock_timeout, 0.0)):
            raise self._timeout_error()
        try:
            if self._depth > 0:
                self._depth += 1
                return True
            try:  # relinked: destroy() may unlink the lock file while we wait on it
                self._fd = fsutil.acquire(self._lock_file, timeout=self.lock_timeout, deadline=deadline, what="IPAM lock",
                                          hint=_LOCK_HINT, mode=0o750, dir_mode=0o755 if create else None, relinked=True)
            except FileNotFoundError:
                self._mutex.release()
                return False
            self._depth = 1
            return True
        except BaseException:
            self._mutex.release()
            raise

    def _release_lock(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            os.close(self._fd)  # closing the last descriptor drops the flock
            self._fd = None
        self._mutex.release()

    def _locked(self, create: bool) -> _Held:
        """`with self._locked(create) as acquired:` (False: the store does not exist)."""
        return _Held(self, create, missing=False)

    def locked(self, create: bool = False) -> _Held:
        """Hold `<dir>/lock` (flock LOCK_EX, polled until lock_timeout, then TransientError).

        Re-entrant within this store object, so allocate()/release() may be called inside it.
        Without `create`, a missing directory raises NotFoundError.
        """
        return _Held(self, create, missing=True)

    # -- files -------------------------------------------------------------------------------------

    def _ip_path(self, ip: IPAddress) -> str:
        return os.path.join(self.dirpath, str(ip))

    def _last_path(self, range_index: int) -> str:
        return os.path.join(self.dirpath, f"{LAST_RESERVED_PREFIX}{range_index}")

    def _entries(self) -> Iterator[tuple[IPAddress, str]]:
        """Reservation files (regular files named by an IP); lock, last_reserved_ip.* and others skipped."""
        try:
            it = os.scandir(self.dirpath)
        except FileNotFoundError:
            return
        with it:
            for entry in it:
                name = entry.name
                if name == LOCK_NAME or name.startswith(LAST_RESERVED_PREFIX):
                    continue
                try:
                    ip = ipaddress.ip_address(name)
                except ValueError:
                    continue
                if entry.is_file(follow_symlinks=False):
                    yield ip, entry.path

    @staticmethod
    def _read(path: str) -> bytes | None:
        """File content, or None if it is missing or not a regular file (symlinks are not followed)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return None
            raise
        try:
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def _write_last(self, range_index: int, ip: IPAddress) -> None:
        fd = os.open(
            self._last_path(range_index), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600
        )
        try:
            _write_all(fd, str(ip).encode())
        finally:
            os.close(fd)

    def _reserve(self, ip: IPAddress, content: bytes, range_index: int) -> bool:
        """O_EXCL-create the reservation file and record last_reserved_ip; False if already taken."""
        path = self._ip_path(ip)
        try:
            fd = os.open(path, os.O_RDWR | os.O_EXCL | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            return False
        try:
            try:
                _write_all(fd, content)
            finally:
                os.close(fd)
            self._write_last(range_index, ip)
        except BaseException:
            _unlink(path)
            raise
        return True

    # -- public API --------------------------------------------------------------------------------

    def _match_requested(
        self, ranges: Sequence[Range], requested: Sequence[str | IPAddress]
    ) -> dict[int, IPAddress]:
        wanted: dict[int, IPAddress] = {}
        for value in requested:
            ip = parse_ip(value, "requested IP")
            index = next((i for i, rng in enumerate(ranges) if rng.in_subnet(ip)), None)
            if index is None:
                subnets = ", ".join(str(rng.subnet) for rng in ranges)
                noun = "subnet" if len(ranges) == 1 else "subnets"
                raise ConfigError(
                    f"requested IP {ip} is outside {noun} {subnets}", hint="choose an address inside it"
                )
            rng = ranges[index]
            if index in wanted:
                raise ConfigError(
                    f"requested IPs {wanted[index]} and {ip} are both in subnet {rng.subnet}",
                    hint="request at most one address per subnet",
                )
            if ip == rng.gateway:
                raise ConfigError(
                    f"requested IP {ip} is the gateway of subnet {rng.subnet}", hint="choose another address"
                )
            net = rng.subnet
            if net.version == 4 and ip in (net.network_address, net.broadcast_address):
                kind = "network" if ip == net.network_address else "broadcast"
                raise ConfigError(
                    f"requested IP {ip} is the {kind} address of subnet {net}",
                    hint="choose a host address inside it",
                )
            wanted[index] = ip
        return wanted

    def _holder_text(self, ip: IPAddress) -> str:
        data = self._read(self._ip_path(ip))
        if data is None:
            return "held by an unknown owner"
        container_id, ifname = _parse_holder(data)
        if not ifname:
            return f"held by container {container_id}"
        return f"held by container {container_id} ifname {ifname}"

    def allocate(
        self,
        ranges: Sequence[Range],
        container_id: str,
        ifname: str,
        requested: Sequence[str | IPAddress] = (),
    ) -> list[Lease]:
        """Reserve one address per range set (lease i from ranges[i]) for (container_id, ifname).

        Requested addresses go to the range whose subnet holds them; the others are picked
        round-robin after `last_reserved_ip.<i>`. All or nothing: a failure in a later range
        releases what this call already reserved.
        """
        if not ranges:
            raise ConfigError("no address range given", hint="configure at least one subnet")
        cid = container_id.strip()
        if not cid or any(c in cid for c in "\r\n"):
            raise ConfigError(f"invalid container id {container_id!r}", hint="use a non-empty single-line id")
        if not ifname or any(c.isspace() for c in ifname):
            raise ConfigError(f"invalid interface name {ifname!r}", hint="use a name such as eth0")
        wanted = self._match_requested(ranges, requested)
        content = f"{cid}{LINE_BREAK}{ifname}".encode()

        leases: list[Lease] = []
        self.previous_last: dict[int, IPAddress | None] = {}
        with self._locked(create=True):
            try:
                for index, rng in enumerate(ranges):
                    ip = wanted.get(index)
                    if ip is not None:
                        self.previous_last[index] = self.last_reserved(index)
                        if not self._reserve(ip, content, index):
                            raise ConflictError(
                                f"requested IP {ip} is already reserved, {self._holder_text(ip)}",
                                hint=f"see reservations with: {cli('ipam show ' + self.network)}",
                            )
                    else:
                        ip = self._reserve_next(rng, index, content)
                    leases.append(
                        Lease(ip=ip, prefixlen=rng.prefixlen, gateway=rng.gateway, range_index=index)
                    )
            except BaseException:
                for lease in leases:
                    _unlink(self._ip_path(lease.ip))
                raise
        return leases

    def _reserve_next(self, rng: Range, range_index: int, content: bytes) -> IPAddress:
        last = self.previous_last[range_index] = self.last_reserved(range_index)
        for candidate in rng.iter_from(last):
            if self._reserve(candidate, content, range_index):
                return candidate
        raise IpamExhaustedError(
            f"no free address in {rng.subnet} (range {rng.range_start}-{rng.range_end}, "
            f"{rng.capacity()} addresses all in use); "
            f"release one with: {cli('ipam release ' + self.network + ' <ip>')}"
        )

    def release(self, container_id: str, ifname: str) -> list[IPAddress]:
        """Remove every reservation of (container_id, ifname), or legacy bare-id ones; returns their IPs."""
        cid = container_id.strip()
        if not cid:
            raise ConfigError("empty container id", hint="give the id the address was allocated for")
        released: list[IPAddress] = []
        with self._locked(create=False) as exists:
            if not exists:
                return []
            for ip, path in list(self._entries()):
                data = self._read(path)
                if data is not None and _matches(data, cid, ifname):
                    _unlink(path)
                    released.append(ip)
        return sorted(released, key=_ip_key)

    def release_ip(self, ip: str | IPAddress) -> tuple[str, str] | None:
        """Remove the reservation of `ip`; returns the (container_id, ifname) it held, None if free."""
        address = parse_ip(ip)
        with self._locked(create=False) as exists:
            if not exists:
                return None
            path = self._ip_path(address)
            data = self._read(path)
            if data is None:
                return None
            _unlink(path)
            return _parse_holder(data)

    def allocations(self) -> list[Allocation]:
        """Every reservation, sorted by IP (IPv4 first)."""
        found: list[Allocation] = []
        with self._locked(create=False) as exists:
            if not exists:
                return []
            for ip, path in self._entries():
                data = self._read(path)
                if data is not None:
                    container_id, ifname = _parse_holder(data)
                    found.append(Allocation(ip=ip, container_id=container_id, ifname=ifname))
        return sorted(found, key=lambda a: _ip_key(a.ip))

    def find(self, container_id: str, ifname: str) -> list[IPAddress]:
        """Addresses reserved for (container_id, ifname), legacy bare-id files included, sorted."""
        cid = container_id.strip()
        found: list[IPAddress] = []
        with self._locked(create=False) as exists:
            if not exists or not cid:
                return []
            for ip, path in self._entries():
                data = self._read(path)
                if data is not None and _matches(data, cid, ifname):
                    found.append(ip)
        return sorted(found, key=_ip_key)

    def last_reserved(self, range_index: int) -> IPAddress | None:
        """Content of `last_reserved_ip.<range_index>`, None if absent or not an address."""
        data = self._read(self._last_path(range_index))
        if data is None:
            return None
        try:
            return ipaddress.ip_address(data.decode("utf-8", "replace").strip())
        except ValueError:
            return None

    def restore_last(self, range_index: int, expected: IPAddress, previous: IPAddress | None) -> None:
        """Undo of a reservation: put `last_reserved_ip.<N>` back to *previous* if it still names *expected*.

        If another allocation happened since, the file is left as it is (round-robin just moves on).
        """
        with self._locked(create=False) as exists:
            if not exists or self.last_reserved(range_index) != expected:
                return
            if previous is None:
                _unlink(self._last_path(range_index))
            else:
                self._write_last(range_index, previous)

    def destroy(self) -> None:
        """Remove lock, last_reserved_ip.* and the directory; ConflictError if reservations remain.

        Files cnictl does not know are left alone (the directory then stays). Already gone is fine.
        """
        with self._locked(create=False) as exists:
            if not exists:
                return
            remaining = sorted((ip for ip, _ in self._entries()), key=_ip_key)
            if remaining:
                shown = ", ".join(str(ip) for ip in remaining[:5]) + (", ..." if len(remaining) > 5 else "")
                raise ConflictError(
                    f"network {self.network} still has {len(remaining)} reserved address(es): {shown}",
                    hint=f"release them first with: {cli('ipam release ' + self.network + ' <ip>')}",
                )
            try:
                it = os.scandir(self.dirpath)
            except FileNotFoundError:
                pass
            else:
                with it:
                    for entry in it:
                        if entry.name.startswith(LAST_RESERVED_PREFIX):
                            _unlink(entry.path)
            _unlink(self._lock_file)
            try:
                os.rmdir(self.dirpath)
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno != errno.ENOTEMPTY:
                    raise
