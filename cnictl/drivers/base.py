"""The NetworkDriver protocol: validate, then plan create/attach/detach/delete (plans never touch the kernel)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from cnictl.host import Host
    from cnictl.ipam.hostlocal import HostLocalStore
    from cnictl.model import Attachment, Network
    from cnictl.netns import NetnsRef
    from cnictl.plan import Plan
    from cnictl.steps import ReserveIP


class NetworkDriver(Protocol):
    kind: str

    def plan_create(self, host: Host, net: Network, peers: tuple[str, ...] = ()) -> Plan: ...

    def plan_delete(self, host: Host, net: Network, peers: tuple[str, ...] = ()) -> Plan: ...

    def plan_attach(
        self, host: Host, net: Network, att: Attachment, ref: NetnsRef, reserve: ReserveIP, store: HostLocalStore
    ) -> Plan: ...

    def plan_detach(self, host: Host, net: Network, att: Attachment) -> Plan: ...
