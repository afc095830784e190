"""CNI plugin support (cnictl-cni): attachments found by container id, DEL without a namespace, CHECK of the
kernel state, GC of stale attachments. ADD is `cnictl.ops.attachments.attach`, the same as the CLI's.

    >>> from cnictl.host import Host
    >>> with Host(netns="h1", state_dir="/tmp/s") as host:                # doctest: +SKIP
    ...     detach_container(host, "lab", "0123abcd", "eth0")
"""

from __future__ import annotations

import ipaddress
import os

from cnictl.drivers import get_driver
from cnictl.host import Host
from cnictl.model import Attachment, validate_ifname, validate_network_name
from cnictl.netns import NetnsRef
from cnictl.ops.attachments import _detach_plan
from cnictl.ops.runner import Outcome, RunOptions, _recover_first, _teardown
from cnictl.plan import Plan
from cnictl.store import Store

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


def find_attachment(host: Host, network: str, container_id: str, ifname: str) -> Attachment | None:
    """The record of (container id, ifname) on *network*, whatever namespace it was attached to."""
    validate_network_name(network)
    for att in Store(host.paths).attachments(network):
        if att.container_id == container_id and att.ifname == ifname:
            return att
    return None


def link_exists(name: str) -> bool:
    """Whether the host namespace has a link *name* (one ioctl, no netlink socket)."""
    import socket

    if not name:
        return False
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


def detach_container(host: Host, network: str, container_id: str, ifname: str, netns: str | None = None,
                     opts: RunOptions | None = None) -> Outcome:
    """Detach (container id, ifname) from *network* by its record; the namespace may be gone or unknown.

    Without a record, whatever a failed attach may have left is removed: the reservations of
    (container id, ifname), and the host end of the veth when *netns* is given. Nothing there: success.
    """
    opts = opts or RunOptions()
    _recover_first(host, opts)
    from cnictl.ipam.hostlocal import HostLocalStore

    validate_network_name(network)
    validate_ifname(ifname)
    store = Store(host.paths)
    result: dict[str, Any] = {"network": network, "container_id": container_id, "ifname": ifname, "detached": False}
    net = store.find_network(network)
    if net is None:
        return Outcome(result, Plan(), [f'network "{network}" not found; nothing to do'])
    ipam = HostLocalStore(os.path.join(host.paths.dirs.ipam_root, network))
    att = find_attachment(host, network, container_id, ifname)
    if att is not None:
        plan = _detach_plan(host, store, net, att, ipam)
        result["addresses"] = att.addresses
    else:
        ref = NetnsRef.parse(netns) if netns else None
        hname = get_driver(net.driver).host_ifname(net, ref.key, ifname) if ref is not None else ""
        if not ipam.find(container_id, ifname) and not link_exists(hname):
            return Outcome(result, Plan(), [f"{container_id}/{ifname} is not attached to {network}; nothing to do"])
        if ref is not None:
            stub = Attachment(network, container_id, ref.spec, ref.key, ifname, hname, "", [], [])
            plan = _detach_plan(host, store, net, stub, ipam)
        else:
            from cnictl.ipam.steps import ReleaseAddresses

            plan = Plan([ReleaseAddresses(ipam, container_id, ifname)])
    result["detached"] = True
    return _teardown(host, store, plan, opts, result, f"detach of {container_id}/{ifname}", "run the same DEL again")


def _default_routes(ref: NetnsRef, host: Host) -> set[str]:
    """Gateways of the default routes inside *ref* (read from /proc, which shows the visiting thread's namespace)."""
    import contextlib
    import socket
    import struct

    from cnictl.netns import entered

    gws: set[str] = set()
    with entered(host.netns_fd(ref), host.home_fd()):
        with contextlib.suppress(OSError), open("/proc/thread-self/net/route") as f:
            for line in f.read().splitlines()[1:]:
                cols = line.split()
                if len(cols) >= 8 and cols[1] == "00000000" and cols[7] == "00000000":
                    gws.add(socket.inet_ntoa(struct.pack("<I", int(cols[2], 16))))
        with contextlib.suppress(OSError), open("/proc/thread-self/net/ipv6_route") as f:
            for line in f.read().splitlines():
                cols = line.split()
                if len(cols) >= 10 and cols[1] == "00" and int(cols[0], 16) == 0:
                    gws.add(str(ipaddress.IPv6Address(bytes.fromhex(cols[4]))))
    return gws


def check_attachment(host: Host, network: str, att: Attachment, netns: str, addresses: Sequence[str] = (),
                     routes: Sequence[tuple[str, str]] = (), *, own_ipam: bool = True) -> list[str]:
    """What is missing of an attachment: its interface in *netns*, the *addresses* (CIDRs) on it, the
    default *routes* ((dst, gw) pairs), the host end of the veth, the IPAM reservations. Empty: all there."""
    from cnictl.ipam.hostlocal import HostLocalStore

    store = Store(host.paths)
    store.get_network(validate_network_name(network))  # raises NotFoundError
    ref = NetnsRef.parse(netns)
    host.netns_fd(ref)  # raises NetnsNotFoundError
    problems: list[str] = []
    nl = host.nl_for(ref)
    if nl.link_index(att.ifname, cached=False) is None:
        problems.append(f"interface {att.ifname} is missing from {netns}")
    else:
        have = {ipaddress.ip_interface(cidr) for _, cidr in nl.addresses(att.ifname)}
        for cidr in [*att.addresses, *addresses]:
            if ipaddress.ip_interface(cidr) not in have:
                problems.append(f"address {cidr} is missing from {att.ifname} in {netns}")
    if routes:
        gws = _default_routes(ref, host)
        for dst, gw in routes:
            if str(ipaddress.ip_address(gw)) not in gws:
                problems.append(f"route {dst} via {gw} is missing in {netns}")
    if att.host_ifname and not link_exists(att.host_ifname):  # a driver with a host-side link (a veth end)
        problems.append(f"host interface {att.host_ifname} is missing")
    if own_ipam:
        held = {str(ip) for ip in HostLocalStore(host.paths.ipam_root / network).find(att.container_id, att.ifname)}
        for cidr in att.addresses:
            if cidr.split("/")[0] not in held:
                problems.append(f"address {cidr} is not reserved for {att.container_id}/{att.ifname}")
    host.forget(ref)
    return problems


def gc_network(host: Host, network: str, valid: set[tuple[str, str]], opts: RunOptions | None = None) -> Outcome:
    """Detach every attachment of *network* whose (container id, ifname) is not in *valid*, and release the
    reservations held by such pairs without a record (the host-access shim's are kept). Runs every removal,
    then raises one error naming each that failed."""
    opts = opts or RunOptions()
    _recover_first(host, opts)
    from cnictl.ipam.hostlocal import HostLocalStore

    validate_network_name(network)
    store = Store(host.paths)
    net = store.find_network(network)
    result: dict[str, Any] = {"network": network, "detached": [], "released": []}
    if net is None:
        return Outcome(result, Plan(), [f'network "{network}" not found; nothing to collect'])
    from cnictl.ipam.steps import ReleaseIP

    ipam = HostLocalStore(host.paths.ipam_root / network)
    plan = Plan()
    recorded = set()
    valid_ids = {cid for cid, _ in valid}
    for att in store.attachments(network):
        recorded.add((att.container_id, att.ifname))
        if (att.container_id, att.ifname) not in valid:
            plan.extend(_detach_plan(host, store, net, att, ipam))
            result["detached"].append(f"{att.container_id}/{att.ifname}")
    keep = {ifname for _, ifname in get_driver(net.driver).host_reservations(net)}  # the host-access shim's
    for alloc in ipam.allocations():
        pair = (alloc.container_id, alloc.ifname)
        stale = pair not in valid if alloc.ifname else alloc.container_id not in valid_ids
        if stale and pair not in recorded and alloc.ifname not in keep:
            plan.add(ReleaseIP(ipam, alloc.ip, pair))
            result["released"].append(str(alloc.ip))
    if not plan.steps:
        return Outcome(result, plan)
    return _teardown(host, store, plan, opts, result, f'garbage collection of network "{network}"', "run GC again")
