"""IPAM Steps: reserving addresses, releasing reservations and removing a network's host-local directory.

They change files only, so they explain themselves as comment lines (`# IPAM: ...`) in `--dry-run`
output and the `--explain` echo; `rm -rf DIR` for the directory, which is what it amounts to.

    >>> from pathlib import Path
    >>> from cnictl.ipam.hostlocal import HostLocalStore
    >>> ReleaseIP(HostLocalStore(Path("/s/ipam/lab")), "10.20.0.5", ("web", "eth0")).explain(None)
    ['# IPAM: release 10.20.0.5 of web/eth0 (rm /s/ipam/lab/10.20.0.5)']
"""

from __future__ import annotations

import os

from cnictl.errors import CnictlError
from cnictl.plan import Step

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from cnictl.host import Host
    from cnictl.ipam.allocator import IPAddress, Lease, Range
    from cnictl.ipam.hostlocal import HostLocalStore


class ReserveIP(Step):
    """Reserve addresses in the host-local store (undo: release exactly those addresses).

    Before apply, `leases` holds the predicted leases, so a dry run can show the address; --explain echoes the
    step after it ran, with the addresses really reserved.
    """

    echo_after = True

    def __init__(
        self,
        store: HostLocalStore,
        ranges: list[Range],
        container_id: str,
        ifname: str,
        requested: Sequence[IPAddress],
        predicted: list[Lease],
    ) -> None:
        self.store, self.ranges, self.container_id, self.ifname = store, ranges, container_id, ifname
        self.requested = requested
        self.leases: list[Lease] = predicted
        self.reserved: list[Lease] = []
        self.dir_existed = False
        self.previous: list[IPAddress | None] = []
        self.summary = f"reserve an address for {container_id}/{ifname} in {store.dirpath}"

    def apply(self, host: Host) -> None:
        self.dir_existed = os.path.exists(self.store.dirpath)
        self.reserved = self.store.allocate(self.ranges, self.container_id, self.ifname, self.requested)
        self.previous = [self.store.previous_last.get(i) for i in range(len(self.ranges))]
        self.leases = list(self.reserved)

    def undo(self, host: Host) -> None:
        """Release the addresses and put the store back as it was (last_reserved_ip, the directory)."""
        if self.unsure:  # cut short: what it may have reserved is what (container id, ifname) holds now
            self.store.release(self.container_id, self.ifname)
            return
        for lease in self.reserved:
            self.store.release_ip(lease.ip)
            prev = self.previous[lease.range_index] if self.dir_existed else None
            self.store.restore_last(lease.range_index, lease.ip, prev)
        self.reserved = []
        if not self.dir_existed:
            try:  # noqa: SIM105 - no contextlib on the plugin's path (start-up time)
                self.store.destroy()
            except CnictlError:
                pass

    # journal: the store, the owner and the ranges; once done, exactly what was reserved and how the store was
    def journal(self) -> dict[str, Any]:
        return {"dir": self.store.dirpath, "container_id": self.container_id, "ifname": self.ifname,
                "ranges": [[str(r.subnet), str(r.range_start), str(r.range_end), _text(r.gateway)] for r in self.ranges],
                "requested": [str(ip) for ip in self.requested], "leases": [_lease(x) for x in self.leases]}

    def journal_out(self) -> dict[str, Any]:
        return {"reserved": [_lease(x) for x in self.reserved], "dir_existed": self.dir_existed,
                "previous": [_text(ip) for ip in self.previous]}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> ReserveIP:
        import ipaddress

        from cnictl.ipam.allocator import Range
        from cnictl.ipam.hostlocal import HostLocalStore

        ip = ipaddress.ip_address
        ranges = [Range(ipaddress.ip_network(n), ip(a), ip(b), ip(g) if g else None) for n, a, b, g in data["ranges"]]
        step = cls(HostLocalStore(data["dir"]), ranges, data["container_id"], data["ifname"],
                   [ip(x) for x in data["requested"]], [_unlease(x) for x in data["leases"]])
        if out is not None:
            step.reserved = [_unlease(x) for x in out["reserved"]]
            step.dir_existed = bool(out["dir_existed"])
            step.previous = [ip(x) if x else None for x in out["previous"]]
        else:
            step.unsure = True
        return step

    unsure = False  # resumed from a journal that does not say whether (or what) it reserved

    def explain(self, host: Host) -> list[str]:
        if not self.leases:  # not predicted (a network's own reservation): the address is chosen when it runs
            return [f"# IPAM: reserve the first free address of {rng.range_start}-{rng.range_end} -> file "
                    f"{self.store.dirpath}/ADDRESS containing '{self.container_id}\\r\\n{self.ifname}'"
                    for rng in self.ranges]
        return [
            f"# IPAM: reserve {lease.ip} -> file {self.store.dirpath}/{lease.ip} "
            f"containing '{self.container_id}\\r\\n{self.ifname}'"
            for lease in self.leases
        ]


class ReleaseAddresses(Step):
    """Release every reservation of (container id, ifname), legacy bare-id ones too; none is fine."""

    def __init__(self, ipam: HostLocalStore, container_id: str, ifname: str) -> None:
        self.ipam, self.container_id, self.ifname = ipam, container_id, ifname
        self.summary = f"release addresses of {container_id}/{ifname}"
        self.released: list[IPAddress] = []

    def apply(self, host: Host) -> None:
        self.released = self.ipam.release(self.container_id, self.ifname)

    def journal(self) -> dict[str, Any]:
        return {"dir": self.ipam.dirpath, "container_id": self.container_id, "ifname": self.ifname}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> ReleaseAddresses:
        from cnictl.ipam.hostlocal import HostLocalStore

        return cls(HostLocalStore(data["dir"]), data["container_id"], data["ifname"])

    def explain(self, host: Host | None) -> list[str]:
        return [f"# IPAM: remove the files in {self.ipam.dirpath} holding '{self.container_id}\\r\\n{self.ifname}'"]


class ReleaseIP(Step):
    """Release one reserved address (`ipam release`, CNI GC); already free is fine. *holder* is the
    (container id, ifname) it was reserved for, when known, for the explained line."""

    def __init__(self, ipam: HostLocalStore, ip: str | IPAddress, holder: tuple[str, str] | None = None) -> None:
        self.ipam, self.ip, self.holder = ipam, str(ip), holder
        of = f" of {holder[0]}/{holder[1]}" if holder and holder[1] else f" of {holder[0]}" if holder else ""
        self.summary = f"release {self.ip}{of}"
        self.released: tuple[str, str] | None = None

    def apply(self, host: Host) -> None:
        self.released = self.ipam.release_ip(self.ip)

    def journal(self) -> dict[str, Any]:
        return {"dir": self.ipam.dirpath, "ip": self.ip, "holder": list(self.holder) if self.holder else None}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> ReleaseIP:
        from cnictl.ipam.hostlocal import HostLocalStore

        holder = data.get("holder")
        return cls(HostLocalStore(data["dir"]), data["ip"], (holder[0], holder[1]) if holder else None)

    def explain(self, host: Host | None) -> list[str]:
        return [f"# IPAM: {self.summary} (rm {os.path.join(self.ipam.dirpath, self.ip)})"]


class DestroyIpamDir(Step):
    """Remove a network's host-local directory (lock, last_reserved_ip.*); refused while reservations remain."""

    def __init__(self, ipam: HostLocalStore) -> None:
        self.ipam = ipam
        self.summary = f"remove IPAM directory {ipam.dirpath}"

    def apply(self, host: Host) -> None:
        self.ipam.destroy()

    def journal(self) -> dict[str, Any]:
        return {"dir": self.ipam.dirpath}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> DestroyIpamDir:
        from cnictl.ipam.hostlocal import HostLocalStore

        return cls(HostLocalStore(data["dir"]))

    def explain(self, host: Host | None) -> list[str]:
        return [f"rm -rf {self.ipam.dirpath}"]


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _lease(lease: Lease) -> list[Any]:
    return [str(lease.ip), lease.prefixlen, _text(lease.gateway), lease.range_index]


def _unlease(data: list[Any]) -> Lease:
    import ipaddress

    from cnictl.ipam.allocator import Lease

    ip, prefixlen, gateway, index = data
    return Lease(ipaddress.ip_address(ip), int(prefixlen), ipaddress.ip_address(gateway) if gateway else None, int(index))
