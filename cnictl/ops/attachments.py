"""Attachments: `attach` a network namespace to a network (a veth pair or a macvlan/ipvlan child, addresses,
routes, published ports) and `detach` it again; the detach plan that `net rm`, `ns rm` and the CNI DEL/GC reuse.

This is the hot path (`cnictl attach` and the CNI plugin's ADD run it once per container): heavy modules are
imported inside the functions that use them.

    >>> from cnictl.host import Host
    >>> with Host(netns="h1", state_dir="/tmp/s") as host:                # doctest: +SKIP
    ...     attach(host, "lab", "web", ports=["8080:80"])
    ...     detach(host, "lab", "web")
"""

from __future__ import annotations

import os

from cnictl.errors import ConfigError, ConflictError, NotFoundError, cli
from cnictl.host import Host
from cnictl.model import Attachment, Network, random_mac, validate_mac
from cnictl.netns import NetnsRef
from cnictl.ops.ipam import _predict, _ranges
from cnictl.ops.requests import AttachRequest, AttachResult, DetachResult, attach_call
from cnictl.ops.runner import Outcome, RunOptions, _endpoint, _now, _recover_first, _run, _teardown
from cnictl.plan import Plan
from cnictl.store import ForgetAttachment, SaveAttachment, Store, attachment_key

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from cnictl.firewall.base import FirewallBackend


def attach(host: Host, req: AttachRequest | str, *args: Any, reserve_hook: Callable[[Any], Any] | None = None,
           **settings: Any) -> Outcome:
    """Attach req.netns to req.network: `attach(host, AttachRequest(...), opts)`; every per-attachment setting is
    a field of the request (cnictl.ops.requests). The keyword form `attach(host, network, netns, opts, ifname=...,
    ports=...)` still works (attach_call). *reserve_hook* (used by the CNI plugin) receives the ReserveIP step and returns
    the step that reserves the addresses instead (a ReserveIP, or a subclass taking leases from elsewhere).
    *hairpin* True: the bridge port is in hairpin mode for the attachment's whole life (the CNI plugin's
    `hairpinMode`, for a chained portmap); None/False: only while cnictl publishes ports of it.

    Validation (no side effects) comes first, then the plan, then applying it under the shared state lock."""
    req, opts = attach_call(req, args, settings)
    opts = opts or RunOptions()
    _recover_first(host, opts)
    network, netns, ifname, ip, mac = req.network, req.netns, req.ifname, req.ip, req.mac
    container_id, ports, hairpin = req.container_id, req.ports, req.hairpin

    store, net, ref, key = _endpoint(host, network, netns, ifname)
    mac = validate_mac(mac)
    specs: list[Any] = []
    if ports:  # cnictl.ports and ops.ports are imported by an attach that publishes (start-up time)
        from cnictl.ops.ports import _port_specs
        from cnictl.ports import PortSpec

        specs = _port_specs(host, net, ports, PortSpec.parse)
    cid = _container_id(container_id or ref.key)
    ranges = _ranges(net)
    requested = _requested_ip(net, ranges, ip)
    existing = store.get_attachment(network, key)
    if existing is not None:
        return _already_attached(existing, ref, ifname, requested)
    ipam = _check_target(host, net, ref, ifname, requested, dry_run=opts.dry_run)
    mac = _link_mac(store, net, mac)
    att = _new_attachment(net, cid, ref, ifname, mac, hairpin)
    plan, reserve = _attach_plan(host, store, net, att, ref, ipam, ranges, requested, specs, reserve_hook,
                                 dry_run=opts.dry_run)
    if opts.dry_run:
        att.addresses = [lease.cidr for lease in reserve.leases]
        return Outcome(AttachResult(att), plan)
    _apply_attach(host, store, plan, opts, net, ref, ifname)
    return Outcome(AttachResult(att), plan, applied=True)


# ---- attach: validation (nothing is changed) --------------------------------------------
def _container_id(cid: str) -> str:
    if not cid or any(c in cid for c in "\r\n/") or len(cid) > 255:
        raise ConfigError(f'bad container id "{cid}": use up to 255 characters without "/" or line breaks')
    return cid


def _requested_ip(net: Network, ranges: list[Any], ip: str | None) -> list[Any]:
    """The --ip address as a list (empty without one), checked against the network's ranges."""
    from cnictl.ipam.allocator import parse_ip

    if ip is None:
        return []
    network = net.name
    want = parse_ip(ip, "--ip")
    rng = next((r for r in ranges if r.in_subnet(want)), None)
    if rng is None:
        subnets = ", ".join(s.subnet for s in net.subnets)
        raise ConfigError(f"requested IP {want} is outside {subnets}", hint=f"pick an address inside network {network}")
    if rng.gateway == want:
        raise ConfigError(f"requested IP {want} is the gateway of {network}", hint="pick another address")
    if want.version == 4 and want in (rng.subnet.network_address, rng.subnet.broadcast_address):
        raise ConfigError(f"requested IP {want} is the network or broadcast address of {rng.subnet}")
    return [want]


def _already_attached(existing: Attachment, ref: NetnsRef, ifname: str, requested: list[Any]) -> Outcome:
    """Attaching again is success with a notice, unless another address is asked for than the one it has."""
    network = existing.network
    if requested and not any(a.split("/")[0] == str(requested[0]) for a in existing.addresses):
        raise ConflictError(
            f"{ref.spec}/{ifname} is already attached to {network} with {', '.join(existing.addresses)}",
            hint=f"detach first: {cli(f'detach {network} {ref.spec}')}",
        )
    return Outcome(AttachResult(existing), Plan(), [f"{ref.spec}/{ifname} is already attached to {network}"])


def _check_target(host: Host, net: Network, ref: NetnsRef, ifname: str, requested: list[Any], *,
                  dry_run: bool) -> Any:
    """The namespace exists, the requested address is free, and (dry run) the interface name too; the IPAM store."""
    from cnictl.ipam.hostlocal import HostLocalStore

    network = net.name
    fd = host.netns_fd(ref)  # raises NetnsNotFoundError
    del fd
    ipam = HostLocalStore(os.path.join(host.paths.dirs.ipam_root, network))
    for want in requested:
        if os.path.exists(os.path.join(ipam.dirpath, str(want))):
            raise ConflictError(f"requested IP {want} is already taken in {network}", hint=f"see: {cli('ipam show ' + network)}")
    # A real run learns this from the kernel (EEXIST when the veth is created, then rolled back), which
    # saves a netlink round trip on every attach; a dry run asks first.
    if dry_run and (taken := _ifname_taken(host, ref, ifname)) is not None:
        raise taken
    return ipam


def _ifname_taken(host: Host, ref: NetnsRef, ifname: str) -> ConflictError | None:
    if host.nl_for(ref).link_index(ifname, cached=False) is None:
        return None
    return ConflictError(f'interface "{ifname}" already exists in {ref.spec}', hint="pick another name with --ifname")


def _link_mac(store: Store, net: Network, mac: str | None) -> str | None:
    """The MAC the container's link gets ("": the parent's, None: a random one); refuses what the driver cannot do."""
    from cnictl.drivers import get_driver

    return get_driver(net.driver).check_attach(net, mac, store)


# ---- attach: planning and applying ------------------------------------------------------
def _new_attachment(net: Network, cid: str, ref: NetnsRef, ifname: str, mac: str | None,
                    hairpin: bool | None) -> Attachment:
    from cnictl.drivers import get_driver

    network = net.name
    hname = get_driver(net.driver).host_ifname(net, ref.key, ifname)  # "": no host-side link (macvlan)
    return Attachment(
        network=network,
        container_id=cid,
        netns=ref.spec,
        netns_key=ref.key,
        ifname=ifname,
        host_ifname=hname,
        mac=random_mac() if mac is None else mac,
        addresses=[],
        gateways=[] if net.internal else [s.gateway for s in net.subnets],
        created=_now(),
        hairpin=bool(hairpin) and bool(hname),  # a setting of the host-side port (a bridge port)
    )


def _attach_plan(host: Host, store: Store, net: Network, att: Attachment, ref: NetnsRef, ipam: Any, ranges: list[Any],
                 requested: list[Any], specs: list[Any], reserve_hook: Callable[[Any], Any] | None, *,
                 dry_run: bool) -> tuple[Plan, Any]:
    """The driver's steps with the address reservation, the published ports, and the record: (plan, reserve step)."""
    from cnictl.drivers import get_driver
    from cnictl.ipam.steps import ReserveIP

    ifname = att.ifname
    predicted = _predict(ipam, ranges, requested) if dry_run else []
    reserve = ReserveIP(ipam, ranges, att.container_id, ifname, requested, predicted)
    if reserve_hook is not None:
        reserve = reserve_hook(reserve)
    plan = get_driver(net.driver).plan_attach(host, net, att, ref, reserve, ipam)
    if specs:  # the backend is built only then (importing one is not paid by an attach without ports)
        from cnictl.firewall import get_backend
        from cnictl.ops.ports import _publish_plan, _v4

        plan.extend(_publish_plan(host, net, att, specs, lambda: _v4(lease.cidr for lease in reserve.leases),
                                  get_backend(net.firewall)))
    plan.add(SaveAttachment(store, att, lambda: [lease.cidr for lease in reserve.leases], [s.to_dict() for s in specs]))
    return plan, reserve


def _apply_attach(host: Host, store: Store, plan: Plan, opts: RunOptions, net: Network, ref: NetnsRef,
                  ifname: str) -> None:
    """Run the plan under the shared state lock; an interface name the kernel found taken is reported as such."""
    network = net.name
    try:
        with store.locked(exclusive=False, host=host):
            if not store.has_network(network):  # removed while we were planning
                raise NotFoundError(f'network "{network}" not found', hint=f"see: {cli('net ls')}")
            try:
                _run(host, plan, opts)
            except ConflictError:
                taken = _ifname_taken(host, ref, ifname)
                if taken is not None:
                    raise taken from None
                raise
    finally:
        host.forget(ref)  # no socket or fd per namespace outlives its attach


def _detach_plan(host: Host, store: Store, net: Network, att: Attachment, ipam: Any,
                 fw: FirewallBackend | None = None) -> Plan:
    """*fw*: the network's firewall backend when the caller built it (net rm: one for every attachment);
    else it is built here, only if the attachment has published ports."""
    from cnictl.drivers import get_driver
    from cnictl.ipam.steps import ReleaseAddresses

    plan = Plan()
    if att.ports:  # the backend and the port modules are imported only then (start-up time of a DEL)
        from cnictl.firewall import get_backend
        from cnictl.ops.ports import _unpublish_plan
        from cnictl.ports import PortSpec

        plan.extend(_unpublish_plan(host, net, att, [PortSpec.from_dict(p) for p in att.ports],
                                    fw or get_backend(net.firewall)))
    plan.extend(get_driver(net.driver).plan_detach(host, net, att))
    plan.add(ReleaseAddresses(ipam, att.container_id, att.ifname))
    plan.add(ForgetAttachment(store, net.name, attachment_key(att.netns_key, att.ifname), f"{att.netns}/{att.ifname}"))
    return plan


def detach(
    host: Host,
    network: str,
    netns: str,
    opts: RunOptions | None = None,
    *,
    ifname: str = "eth0",
    container_id: str | None = None,
) -> Outcome:
    opts = opts or RunOptions()
    _recover_first(host, opts)
    from cnictl.ipam.hostlocal import HostLocalStore

    store, net, ref, key = _endpoint(host, network, netns, ifname)
    ipam = HostLocalStore(os.path.join(host.paths.dirs.ipam_root, network))
    att = store.get_attachment(network, key)
    if att is None:
        cid = container_id or ref.key
        from cnictl.drivers import get_driver

        hname = get_driver(net.driver).host_ifname(net, ref.key, ifname)
        leftovers = ipam.find(cid, ifname) or (hname and host.nl().link_index(hname) is not None)
        if not leftovers:
            return Outcome(DetachResult(network, ref.spec, ifname, False), Plan(),
                           [f"{ref.spec}/{ifname} is not attached to {network}; nothing to do"])
        att = Attachment(network, cid, ref.spec, ref.key, ifname, hname, "", [], [])
    plan = _detach_plan(host, store, net, att, ipam)
    result = DetachResult(network, ref.spec, ifname, True, list(att.addresses))
    return _teardown(host, store, plan, opts, result, f"detach of {ref.spec}/{ifname}", "run the same detach again")

