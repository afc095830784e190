"""Steps that span layers: IPAM reservation and address assignment from a lease, and state-file writes.

    >>> ReserveIP.__doc__.split(".")[0]
    'Reserve addresses in the host-local store (undo: release exactly those addresses)'
"""

from __future__ import annotations

import contextlib
import errno

from cnictl.errors import CnictlError, NotFoundError
from cnictl.plan import Step

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    import _socket
    from collections.abc import Sequence

    from cnictl.host import Host
    from cnictl.ipam.allocator import IPAddress, Lease, Range
    from cnictl.ipam.hostlocal import HostLocalStore
    from cnictl.netlink.child_steps import AddChild
    from cnictl.netlink.steps import AddVeth
    from cnictl.netns import NetnsRef


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
        if not self.leases:  # not predicted (a network's own reservation): the address is chosen when it runs
            return [f"# IPAM: reserve the first free address of {rng.range_start}-{rng.range_end} -> file "
                    f"{self.store.directory}/ADDRESS containing '{self.container_id}\\r\\n{self.ifname}'"
                    for rng in self.ranges]
        return [
            f"# IPAM: reserve {lease.ip} -> file {self.store.directory}/{lease.ip} "
            f"containing '{self.container_id}\\r\\n{self.ifname}'"
            for lease in self.leases
        ]


class ConfigureInterface(Step):
    """Inside the namespace: the reserved addresses, link up, default routes, sent as one netlink batch.

    The interface's index comes from the kernel's answer to the veth creation. A namespace that already
    has a default route keeps it (its first network's, as docker does). Undo is the veth's deletion.
    """

    def __init__(self, veth: AddVeth | AddChild, reserve: ReserveIP, ifname: str, netns: NetnsRef, gateways: list[str]) -> None:
        self.veth, self.reserve, self.ifname, self.netns, self.gateways = veth, reserve, ifname, netns, gateways
        self.summary = f"configure {ifname} in {netns.spec}: addresses, up, default route"
        self.skipped_routes: list[str] = []

    def _lines(self) -> list[tuple[str, str]]:
        ip = self.netns.ip_prefix()
        out = []
        for lease in self.reserve.leases:
            nodad = " nodad" if lease.ip.version == 6 else ""
            out.append(("addr", f"{ip} addr add {lease.cidr} dev {self.ifname}{nodad}"))
        out.append(("up", f"{ip} link set {self.ifname} up"))
        for gw in self.gateways:
            fam = ip.replace("ip", "ip -6", 1) if ":" in gw else ip
            out.append(("route", f"{fam} route add default via {gw} dev {self.ifname}"))
        return out

    def apply(self, host: Host) -> None:
        from cnictl.netlink.rtnl import link_index

        sock = host.raw_socket(self.netns)
        try:
            index = self.veth.peer_index or link_index(sock, self.ifname)
            if index is None:
                raise NotFoundError(f"interface {self.ifname} vanished from {self.netns.spec} while it was configured")
            codes = self._send(sock, index)
        finally:
            sock.close()
        lines = self._lines()
        for i, code in enumerate(codes):
            if code == 0:
                continue
            if lines[i][0] == "route" and code == errno.EEXIST:
                self.skipped_routes.append(lines[i][1])
                continue
            raise self._batch.error(i, code)

    def _send(self, sock: _socket.socket, index: int) -> list[int]:
        from cnictl.netlink.rtnl import Batch

        batch = self._batch = Batch()
        lines = self._lines()
        leases = iter(self.reserve.leases)
        gateways = iter(self.gateways)
        for kind, text in lines:
            if kind == "addr":
                batch.add_addr(index, next(leases).cidr, text)
            elif kind == "up":
                batch.set_up(index, text)
            else:
                batch.add_default_route(next(gateways), index, text)
        return batch.send(sock)

    def explain(self, host: Host) -> list[str]:
        return [text for _, text in self._lines()]
