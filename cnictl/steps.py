"""Steps that span layers: IPAM reservation and address assignment from a lease, and state-file writes.

    >>> ReserveIP.__doc__.split(".")[0]
    'Reserve addresses in the host-local store (undo: release exactly those addresses)'
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from cnictl.errors import CnictlError
from cnictl.plan import Step

if TYPE_CHECKING:
    from collections.abc import Sequence

    from cnictl.host import Host
    from cnictl.ipam.allocator import IPAddress, Lease, Range
    from cnictl.ipam.hostlocal import HostLocalStore
    from cnictl.netns import NetnsRef


class ReserveIP(Step):
    """Reserve addresses in the host-local store (undo: release exactly those addresses).

    Before apply, `leases` holds the predicted leases, so a dry run can show the address.
    """

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
        self.summary = f"reserve an address for {container_id}/{ifname} in {store.directory}"

    def apply(self, host: Host) -> None:
        self.dir_existed = self.store.directory.exists()
        self.reserved = self.store.allocate(self.ranges, self.container_id, self.ifname, self.requested)
        self.previous = [self.store.previous_last.get(i) for i in range(len(self.ranges))]
        self.leases = list(self.reserved)

    def undo(self, host: Host) -> None:
        """Release the addresses and put the store back as it was (last_reserved_ip, the directory)."""
        for lease in self.reserved:
            self.store.release_ip(lease.ip)
            prev = self.previous[lease.range_index] if self.dir_existed else None
            self.store.restore_last(lease.range_index, lease.ip, prev)
        self.reserved = []
        if not self.dir_existed:
            with contextlib.suppress(CnictlError):
                self.store.destroy()

    def explain(self, host: Host) -> list[str]:
        return [
            f"# IPAM: reserve {lease.ip} -> file {self.store.directory}/{lease.ip} "
            f"containing '{self.container_id}\\r\\n{self.ifname}'"
            for lease in self.leases
        ]


class LeaseAddr(Step):
    """Put the i-th reserved address on the container interface."""

    def __init__(self, reserve: ReserveIP, index: int, ifname: str, netns: NetnsRef) -> None:
        self.reserve, self.index, self.ifname, self.netns = reserve, index, ifname, netns
        self.summary = f"add the reserved address to {ifname} in {netns.spec}"

    @property
    def cidr(self) -> str:
        return self.reserve.leases[self.index].cidr

    def apply(self, host: Host) -> None:
        lease = self.reserve.leases[self.index]
        host.nl_for(self.netns).add_addr(self.ifname, lease.cidr, nodad=lease.ip.version == 6)

    def explain(self, host: Host) -> list[str]:
        lease = self.reserve.leases[self.index]
        nodad = " nodad" if lease.ip.version == 6 else ""
        return [f"{self.netns.ip_prefix()} addr add {lease.cidr} dev {self.ifname}{nodad}"]
