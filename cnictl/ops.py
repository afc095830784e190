"""Use cases: create/delete networks, attach/detach namespaces, IPAM, forwarding, namespaces, firewall view.

Each mutating use case validates everything first (no side effects), builds a Plan, and then,
unless it is a dry run, applies it under the state lock; a failure or Ctrl-C undoes every
step already done. The CLI and library callers share these functions.

    >>> from cnictl.host import Host
    >>> with Host(netns="h1", state_dir="/tmp/s") as host:                # doctest: +SKIP
    ...     create_network(host, NetworkRequest(name="lab", subnets=["10.20.0.0/24"]))
    ...     attach(host, "lab", "web")
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import time
from collections.abc import Callable, Sequence

from cnictl.errors import (
    CnictlError,
    ConfigError,
    ConflictError,
    IpamExhaustedError,
    NetnsNotFoundError,
    NotFoundError,
    cli,
)
from cnictl.host import Host
from cnictl.model import (
    Attachment,
    Network,
    SubnetSpec,
    default_bridge_name,
    host_ifname,
    random_mac,
    validate_ifname,
    validate_mac,
    validate_mtu,
    validate_network_name,
)
from cnictl.netns import NetnsRef
from cnictl.plan import Call, Plan, Step
from cnictl.record import field, record
from cnictl.store import Store, attachment_key

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

DEFAULT_POOL = "10.89.0.0/16"
DEFAULT_POOL_PREFIX = 24


@record
class RunOptions:
    """How to run a plan: dry_run only explains; echo sees each step; inject lets tests alter the plan."""

    dry_run: bool = False
    echo: Callable[[Step], None] | None = None
    inject: Callable[[Plan], None] | None = None


@record
class Outcome:
    result: dict[str, Any]
    plan: Plan
    notices: list[str] = field(default_factory=list)
    applied: bool = False


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _run(host: Host, plan: Plan, opts: RunOptions) -> bool:
    if opts.dry_run:
        return False
    if opts.inject is not None:
        opts.inject(plan)
    plan.apply(host, echo=opts.echo)
    return True


def _teardown(host: Host, store: Store, plan: Plan, opts: RunOptions, result: dict[str, Any], what: str,
              hint: str) -> Outcome:
    """Run a removal plan under the shared state lock (or only explain it): every step runs even when one fails,
    and the failures become one error naming *what* was incomplete."""
    if opts.dry_run:
        return Outcome(result, plan)
    with store.locked(exclusive=False):
        errors = plan.teardown(host, echo=opts.echo)
    if errors:
        raise CnictlError(f"{what} was incomplete: " + "; ".join(errors), hint=hint)
    return Outcome(result, plan, applied=True)


# ---------------------------------------------------------------------------------------
# networks
# ---------------------------------------------------------------------------------------
@record
class NetworkRequest:
    name: str
    driver: str = "bridge"
    subnets: list[str] = field(default_factory=list)
    gateway: str | None = None
    ip_range: str | None = None
    bridge: str | None = None
    mtu: int | None = None
    internal: bool = False
    masquerade: bool = True
    isolate: bool = True
    icc: bool = True
    firewall: str | None = None  # backend of this network (default: the invocation's --firewall)
    labels: dict[str, str] = field(default_factory=dict)
    # macvlan / ipvlan
    parent: str | None = None
    mode: str | None = None
    vlan: int | None = None
    host_access: bool = False
    cni_conf_dir: str | None = None  # also write the network's conflist (reference plugins) there


def _ranges(net: Network) -> list[Any]:
    from cnictl.ipam.allocator import Range

    return [Range.build(s.subnet, s.gateway, s.ip_range) for s in net.subnets]


def _pick_subnet(host: Host, taken: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str:
    busy = list(taken)
    with contextlib.suppress(CnictlError):
        busy += host.nl().route_networks()
    for cand in ipaddress.ip_network(DEFAULT_POOL).subnets(new_prefix=DEFAULT_POOL_PREFIX):
        if not any(cand.overlaps(b) for b in busy if b.version == 4):
            return str(cand)
    raise IpamExhaustedError(
        f"no free /{DEFAULT_POOL_PREFIX} left in the default pool {DEFAULT_POOL}", hint="give one with --subnet CIDR"
    )


def create_network(host: Host, req: NetworkRequest, opts: RunOptions | None = None, *, exist_ok: bool = False,
                   settings: Sequence[str] | None = None) -> Outcome:
    """Create a network; with *exist_ok*, a network of that name that has the asked settings is success and one
    with other settings a ConflictError naming them. *settings* lists the NetworkRequest fields that were asked
    for (None: every field whose value differs from its default, and the driver).

    Everything is decided under the exclusive state lock, so of two creations of one network (parallel CNI ADDs
    of an inline network) one creates it and the other finds it made, never a half-made one."""
    opts = opts or RunOptions()
    validate_network_name(req.name)
    if opts.dry_run:
        return _create_network(host, req, opts, exist_ok, settings)
    with Store(host.paths).locked(exclusive=True):
        return _create_network(host, req, opts, exist_ok, settings)


def asked_settings(req: NetworkRequest) -> list[str]:
    """The fields of *req* set to something other than their default (what a user asked for), and the driver."""
    default = NetworkRequest(name=req.name)
    return ["driver"] + [k for k in _SETTINGS if k != "driver" and getattr(req, k) != getattr(default, k)]


_SETTINGS = ("driver", "subnets", "gateway", "ip_range", "bridge", "mtu", "internal", "masquerade", "isolate", "icc",
             "firewall", "parent", "mode", "vlan", "host_access", "labels")
_FLAGS = {"subnets": "--subnet", "gateway": "--gateway", "ip_range": "--ip-range", "bridge": "--bridge", "mtu": "--mtu",
          "internal": "--internal", "masquerade": "--no-masquerade", "isolate": "--no-isolate", "icc": "--no-icc",
          "firewall": "--firewall", "parent": "--parent", "mode": "--mode", "vlan": "--vlan",
          "host_access": "--host-access", "driver": "--driver", "labels": "--label"}


def network_differences(net: Network, req: NetworkRequest, settings: Sequence[str]) -> list[str]:
    """How the existing *net* differs from the *settings* of *req* it was asked to have (empty: it is as asked)."""
    out = []
    for key in settings:
        want = getattr(req, key)
        if key == "subnets":
            try:
                want_set = {str(ipaddress.ip_network(s, strict=False)) for s in want}
            except ValueError:
                want_set = set(want)
            have: Any = sorted(s.subnet for s in net.subnets)
            same = want_set == set(have)
            want = sorted(want_set)
        elif key == "gateway":
            have = [s.gateway for s in net.subnets]
            same = want is None or str(want) in have
        elif key == "ip_range":
            have = [s.ip_range for s in net.subnets if s.ip_range]
            same = want is None or want in have
        elif key == "masquerade":
            have = net.masquerade
            same = want == have or net.internal
        elif key == "parent" and want is not None:
            from cnictl.model import split_vlan_parent

            have = net.parent
            try:
                same = split_vlan_parent(want, req.vlan if req.vlan is not None else net.vlan)[0] == net.parent
            except CnictlError:
                same = False
        elif key == "labels":
            have = dict(net.labels)
            same = all(have.get(k) == v for k, v in want.items())
        else:
            have = getattr(net, key, None)
            same = want == have
        if not same:
            out.append(f"{_FLAGS.get(key, key)}: {_shown(have)} here, {_shown(want)} asked")
    return out


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
    return "none" if value is None else str(value)


def _create_network(host: Host, req: NetworkRequest, opts: RunOptions, exist_ok: bool,
                    settings: Sequence[str] | None) -> Outcome:
    from cnictl.drivers import get_driver
    from cnictl.ipam.allocator import Range

    driver = get_driver(req.driver)
    store = Store(host.paths)
    existing = store.find_network(req.name)
    if existing is not None:
        if exist_ok:
            diff = network_differences(existing, req, asked_settings(req) if settings is None else settings)
            if diff:
                raise ConflictError(f'network "{req.name}" exists with other settings: ' + "; ".join(diff),
                                    hint=f"ask for what it has (see: {cli('net inspect ' + req.name)}), "
                                         f"or remove it first: {cli('net rm ' + req.name)}")
            return Outcome(existing.to_dict(), Plan(), [f'network "{req.name}" already exists; left as it is'])
        raise ConflictError(f'network "{req.name}" already exists', hint="pick another name or use --exist-ok")
    if len(req.subnets) > 2:
        raise ConfigError("give at most two --subnet values (one IPv4, one IPv6)")
    if req.gateway and len(req.subnets) != 1:
        raise ConfigError("--gateway needs exactly one --subnet (it belongs to that subnet)")
    if req.ip_range and len(req.subnets) != 1:
        raise ConfigError("--ip-range needs exactly one --subnet (it must lie inside that subnet)")
    bridged = req.driver == "bridge"
    if bridged:
        for value, flag in ((req.parent, "--parent"), (req.mode, "--mode"), (req.vlan, "--vlan"),
                            (req.host_access, "--host-access")):
            if value:
                raise ConfigError(f"{flag} applies to macvlan and ipvlan networks, not to bridge networks",
                                  hint="add --driver macvlan, or leave it out")
    backend = host.fw_for(req.firewall).name if req.firewall else host.fw.name  # unknown names raise ConfigError
    others = store.networks()
    taken = [s.network for n in others for s in n.subnets]
    if not bridged and not req.subnets:
        subnet_texts: list[str] = []
    else:
        subnet_texts = list(req.subnets) or [_pick_subnet(host, taken)]
    specs: list[SubnetSpec] = []
    for text in subnet_texts:
        rng = Range.build(text, req.gateway, req.ip_range)
        specs.append(SubnetSpec(subnet=str(rng.subnet), gateway=str(rng.gateway), ip_range=req.ip_range))
    if len({s.network.version for s in specs}) != len(specs):
        raise ConfigError("two --subnet values of the same IP family: give one IPv4 and one IPv6 subnet")
    notices: list[str] = []
    if not bridged:
        from cnictl.drivers.macvlan import build_network

        net, notices = build_network(host, req, others, specs, _now())
    validate_mtu(req.mtu, ipv6=any(s.network.version == 6 for s in specs))
    for s in specs:
        for other in others:
            for o in other.subnets:
                if s.network.version == o.network.version and s.network.overlaps(o.network):
                    same = f" on the same parent {other.parent}" if not bridged and other.parent == net.parent else ""
                    raise ConflictError(
                        f'subnet {s.subnet} overlaps {o.subnet} of network "{other.name}"{same}',
                        hint=f"pick a free range, see: {cli('net ls')}",
                    )
    if bridged:
        net = _bridge_network(host, req, others, specs, backend)
    plan = driver.plan_create(host, net, _open_peers(others, net))
    if req.cni_conf_dir:
        plan.add(_write_conflist(host, net, req.cni_conf_dir))
    plan.add(Call(f"save network {net.name}", lambda h: store.save_network(net),
                  lambda h: store.delete_network(net.name),
                  lambda h: [f"# state: write {store.network_path(net.name)}"]))
    if opts.dry_run:
        return Outcome(net.to_dict(), plan)
    _run(host, plan, opts)  # the caller holds the exclusive state lock
    from cnictl.sysctl import WriteSysctl

    for step in plan.steps:
        if isinstance(step, WriteSysctl) and step.changed and step.key.endswith("all.forwarding"):
            fam = "IPv4" if "ipv4" in step.key else "IPv6"
            notices.append(f"enabled {fam} forwarding in this host ({step.key}=1)")
    return Outcome(net.to_dict(), plan, notices, applied=True)


def _write_conflist(host: Host, net: Network, directory: str) -> Call:
    """The network's reference-plugin conflist in *directory* (checked now: what can't be expressed is refused)."""
    from pathlib import Path

    from cnictl.cni import emit

    net.cni_conf_dir = str(Path(directory).absolute())
    data = emit.conflist(net, str(host.paths.ipam_root))
    path = Path(net.cni_conf_dir) / emit.file_name(net.name)
    if path.exists():
        raise ConflictError(f"{path} already exists", hint="remove it, or give another --cni-conf-dir")

    def undo(h: Host) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    return Call(f"write CNI conflist {path}", lambda h: emit.write(path, data), undo,
                lambda h: [f"# CNI: write {path} (cnictl cni emit {net.name})"])


def _remove_conflist(net: Network) -> Call:
    from pathlib import Path

    from cnictl.cni import emit

    path = Path(str(net.cni_conf_dir)) / emit.file_name(net.name)

    def rm(h: Host) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    return Call(f"remove CNI conflist {path}", rm, explain=lambda h: [f"rm -f {path}"])


def _bridge_network(host: Host, req: NetworkRequest, others: list[Network], specs: list[SubnetSpec],
                    backend: str) -> Network:
    """Check a bridge request against the host (nothing is changed): the bridge name, an existing bridge."""
    bridge = req.bridge or default_bridge_name(req.name)
    validate_ifname(bridge, "bridge name")
    for other in others:
        if other.bridge == bridge:
            raise ConflictError(f'bridge {bridge} is already used by network "{other.name}"', hint="use --bridge NAME")
    managed = True
    if host.nl().link_index(bridge) is not None:
        kind = host.nl().link_kind(bridge)
        if req.bridge is None or kind != "bridge":
            raise ConflictError(
                f"interface {bridge} already exists"
                + ("" if kind == "bridge" else f" and is not a bridge ({kind or 'no link kind'})"),
                hint="name another bridge with --bridge IFNAME",
            )
        managed = False
    return Network(
        name=req.name,
        driver=req.driver,
        bridge=bridge,
        subnets=specs,
        mtu=req.mtu,
        internal=req.internal,
        masquerade=req.masquerade and not req.internal,
        managed_bridge=managed,
        labels=dict(req.labels),
        created=_now(),
        mac=random_mac() if managed else None,
        isolate=req.isolate,
        icc=req.icc,
        firewall=backend,
    )


def _open_peers(networks: list[Network], net: Network) -> tuple[str, ...]:
    """Bridges of the other --no-isolate networks on the same firewall backend."""
    return tuple(n.bridge for n in networks if n.name != net.name and not n.isolate and n.firewall == net.firewall
                 and n.driver == "bridge")


def list_networks(host: Host) -> list[dict[str, Any]]:
    store = Store(host.paths)
    rows = []
    for net in store.networks():
        d = net.to_dict()
        d["attachments"] = store.count_attachments(net.name)
        rows.append(d)
    return rows


def inspect_network(host: Host, name: str) -> dict[str, Any]:
    validate_network_name(name)
    store = Store(host.paths)
    net = store.get_network(name)
    d = net.to_dict()
    d["attachments"] = [a.to_dict() for a in store.attachments(name)]
    d["ipam_dir"] = str(host.paths.ipam_root / name)
    return d


def delete_network(host: Host, name: str, opts: RunOptions | None = None, *, force: bool = False) -> Outcome:
    opts = opts or RunOptions()
    from cnictl.drivers import get_driver
    from cnictl.ipam.hostlocal import HostLocalStore

    validate_network_name(name)
    store = Store(host.paths)
    net = store.get_network(name)
    atts = store.attachments(name)
    if atts and not force:
        who = ", ".join(f"{a.netns}/{a.ifname}" for a in atts[:5]) + (" ..." if len(atts) > 5 else "")
        raise ConflictError(
            f'network "{name}" still has {len(atts)} attachment(s): {who}',
            hint=f"detach them first or use: {cli(f'net rm {name} --force')}",
        )
    driver = get_driver(net.driver)
    ipam = HostLocalStore(host.paths.ipam_root / name)
    plan = Plan()
    for att in atts:
        plan.extend(_detach_plan(host, store, net, att, ipam))
    plan.extend(driver.plan_delete(host, net, _open_peers(store.networks(), net)))
    if net.cni_conf_dir:
        plan.add(_remove_conflist(net))
    plan.add(Call(f"remove IPAM directory {ipam.directory}", lambda h: ipam.destroy(),
                  explain=lambda h: [f"rm -rf {ipam.directory}"]))
    if opts.dry_run:
        return Outcome({"name": name, "removed": False}, plan)
    with store.locked(exclusive=True):
        errors = plan.teardown(host, echo=opts.echo)
        if errors:
            raise CnictlError(
                f'network "{name}" was only partly removed: ' + "; ".join(errors),
                hint=f"fix the cause and run {cli('net rm ' + name)} again",
            )
        store.delete_network(name)
    return Outcome({"name": name, "removed": True, "detached": len(atts)}, plan, applied=True)


# ---------------------------------------------------------------------------------------
# attach / detach
# ---------------------------------------------------------------------------------------
def _predict(ipam: Any, ranges: list[Any], requested: list[Any]) -> list[Any]:
    """The leases an allocation would most likely hand out now (for dry runs); no reservation."""
    from cnictl.ipam.allocator import Lease

    out = []
    for i, rng in enumerate(ranges):
        want = next((ip for ip in requested if rng.in_subnet(ip)), None)
        if want is None:
            for cand in rng.iter_from(ipam.last_reserved(i)):
                if not (ipam.directory / str(cand)).exists():
                    want = cand
                    break
        if want is None:
            raise IpamExhaustedError(f"no free address in {rng.subnet}", hint=f"see: {cli('ipam show ' + ipam.directory.name)}")
        out.append(Lease(ip=want, prefixlen=rng.prefixlen, gateway=rng.gateway, range_index=i))
    return out


def _endpoint(host: Host, network: str, netns: str, ifname: str) -> tuple[Store, Network, NetnsRef, str]:
    """Validate the (network, namespace, ifname) of an attach or detach: store, network, ref, record key."""
    validate_network_name(network)
    store = Store(host.paths)
    net = store.get_network(network)
    ref = NetnsRef.parse(netns)
    validate_ifname(ifname)
    return store, net, ref, attachment_key(ref.key, ifname)


def attach(
    host: Host,
    network: str,
    netns: str,
    opts: RunOptions | None = None,
    *,
    ifname: str = "eth0",
    ip: str | None = None,
    mac: str | None = None,
    container_id: str | None = None,
    ports: Sequence[str] = (),
    reserve_hook: Callable[[Any], Any] | None = None,
    hairpin: bool | None = None,
) -> Outcome:
    """Attach *netns* to *network*. *reserve_hook* (used by the CNI plugin) receives the ReserveIP step and returns
    the step that reserves the addresses instead (a ReserveIP, or a subclass taking leases from elsewhere).
    *hairpin* True: the bridge port is in hairpin mode for the attachment's whole life (the CNI plugin's
    `hairpinMode`, for a chained portmap); None/False: only while cnictl publishes ports of it."""
    opts = opts or RunOptions()
    from cnictl.drivers import get_driver
    from cnictl.ipam.allocator import parse_ip
    from cnictl.ipam.hostlocal import HostLocalStore
    from cnictl.ports import PortSpec
    from cnictl.steps import ReserveIP

    store, net, ref, key = _endpoint(host, network, netns, ifname)
    mac = validate_mac(mac)
    specs = _port_specs(host, net, ports, PortSpec.parse)
    cid = container_id or ref.key
    if not cid or any(c in cid for c in "\r\n/") or len(cid) > 255:
        raise ConfigError(f'bad container id "{cid}": use up to 255 characters without "/" or line breaks')
    ranges = _ranges(net)
    requested = []
    if ip is not None:
        want = parse_ip(ip, "--ip")
        rng = next((r for r in ranges if r.in_subnet(want)), None)
        if rng is None:
            subnets = ", ".join(s.subnet for s in net.subnets)
            raise ConfigError(f"requested IP {want} is outside {subnets}", hint=f"pick an address inside network {network}")
        if rng.gateway == want:
            raise ConfigError(f"requested IP {want} is the gateway of {network}", hint="pick another address")
        if want.version == 4 and want in (rng.subnet.network_address, rng.subnet.broadcast_address):
            raise ConfigError(f"requested IP {want} is the network or broadcast address of {rng.subnet}")
        requested.append(want)
    existing = store.get_attachment(network, key)
    if existing is not None:
        if ip is not None and not any(a.split("/")[0] == str(requested[0]) for a in existing.addresses):
            raise ConflictError(
                f"{ref.spec}/{ifname} is already attached to {network} with {', '.join(existing.addresses)}",
                hint=f"detach first: {cli(f'detach {network} {ref.spec}')}",
            )
        return Outcome(existing.to_dict(), Plan(), [f"{ref.spec}/{ifname} is already attached to {network}"])
    fd = host.netns_fd(ref)  # raises NetnsNotFoundError
    del fd
    ipam = HostLocalStore(host.paths.ipam_root / network)
    for want in requested:
        holder = ipam.directory / str(want)
        if holder.exists():
            raise ConflictError(f"requested IP {want} is already taken in {network}", hint=f"see: {cli('ipam show ' + network)}")
    def ifname_taken() -> ConflictError | None:
        if host.nl_for(ref).link_index(ifname, cached=False) is None:
            return None
        return ConflictError(f'interface "{ifname}" already exists in {ref.spec}', hint="pick another name with --ifname")

    # A real run learns this from the kernel (EEXIST when the veth is created, then rolled back), which
    # saves a netlink round trip on every attach; a dry run asks first.
    if opts.dry_run and (taken := ifname_taken()) is not None:
        raise taken
    bridged = net.driver == "bridge"
    if not bridged and (net.driver == "ipvlan" or net.mode == "passthru"):
        if mac is not None:
            raise ConfigError(f"--mac does not apply to {net.driver} {net.mode} network \"{network}\": its links carry "
                              f"the MAC address of the parent {net.parent}", hint="leave --mac out")
        mac = ""
    if net.mode == "passthru" and store.count_attachments(network):
        who = ", ".join(f"{a.netns}/{a.ifname}" for a in store.attachments(network))
        raise ConflictError(f'network "{network}" is macvlan passthru: its parent {net.parent} serves one container, '
                            f"and {who} has it", hint="detach it first, or use a network in mode bridge")
    att = Attachment(
        network=network,
        container_id=cid,
        netns=ref.spec,
        netns_key=ref.key,
        ifname=ifname,
        host_ifname=host_ifname(network, ref.key, ifname) if bridged else "",
        mac=random_mac() if mac is None else mac,
        addresses=[],
        gateways=[] if net.internal else [s.gateway for s in net.subnets],
        created=_now(),
        hairpin=bool(hairpin) and bridged,
    )
    predicted = _predict(ipam, ranges, requested) if opts.dry_run else []
    reserve = ReserveIP(ipam, ranges, cid, ifname, requested, predicted)
    if reserve_hook is not None:
        reserve = reserve_hook(reserve)
    plan = get_driver(net.driver).plan_attach(host, net, att, ref, reserve, ipam)
    if specs:
        plan.extend(_publish_plan(host, net, att, specs, lambda: _v4(lease.cidr for lease in reserve.leases)))

    def save(h: Host) -> None:
        att.addresses = [lease.cidr for lease in reserve.leases]
        att.ports = [s.to_dict() for s in specs]
        store.save_attachment(att)

    plan.add(Call(f"record attachment {ref.spec}/{ifname}", save, lambda h: store.delete_attachment(network, key),
                  lambda h: [f"# state: write {store.attachment_path(network, key)}"]))
    if opts.dry_run:
        att.addresses = [lease.cidr for lease in reserve.leases]
        return Outcome(att.to_dict(), plan)
    try:
        with store.locked(exclusive=False):
            if not store.network_path(network).exists():  # removed while we were planning
                raise NotFoundError(f'network "{network}" not found', hint=f"see: {cli('net ls')}")
            try:
                _run(host, plan, opts)
            except ConflictError:
                taken = ifname_taken()
                if taken is not None:
                    raise taken from None
                raise
    finally:
        host.forget(ref)  # no socket or fd per namespace outlives its attach
    return Outcome(att.to_dict(), plan, applied=True)


def _v4(cidrs: Any) -> str:
    for c in cidrs:
        if ":" not in c:
            return str(c).split("/")[0]
    raise ConfigError("published ports need an IPv4 address on the attachment", hint="give the network an IPv4 subnet")


def _port_specs(host: Host, net: Network, texts: Sequence[str], parse: Any) -> list[Any]:
    """Parse -p values and check each host address is one of this host's."""
    specs = [parse(t) for t in texts]
    if specs and net.driver != "bridge":
        raise ConfigError(
            f'network "{net.name}" is {net.driver}: its containers have their own address on the LAN of '
            f"{net.parent}, so there is no NAT and nothing to publish",
            hint=f"reach the container at its own address, shown by {cli('net inspect ' + net.name)}; "
                 "use a bridge network for -p",
        )
    if specs and net.internal:
        raise ConfigError(f'network "{net.name}" is --internal: nothing can reach its containers from outside',
                          hint="publish ports on a network that is not internal")
    if specs and not net.has_ipv4:
        raise ConfigError(f'network "{net.name}" has no IPv4 subnet: published ports need one')
    wanted = {s.host_ip for s in specs if s.host_ip and not s.loopback}
    if wanted:
        mine = {cidr.split("/")[0] for _, cidr in host.nl().addresses()}
        for ip in sorted(wanted - mine):
            raise ConfigError(f"host address {ip} is not on this host",
                              hint="see: ip -4 addr; or publish on all addresses by leaving the address out")
    return specs


def _forwards(net: Network, container_ip: str, specs: Sequence[Any]) -> list[Any]:
    from cnictl.firewall.base import PortForward

    return [PortForward(net.name, net.bridge, container_ip, s.host_ip, s.host_port, s.container_port, s.count, s.proto)
            for s in specs]


def _publish_plan(host: Host, net: Network, att: Attachment, specs: Sequence[Any], container_ip: Callable[[], str]) -> Plan:
    """Claim the host ports, let the bridge route 127/8 (for localhost access), add the DNAT elements."""
    from cnictl.ports import PortClaims
    from cnictl.sysctl import WriteSysctl

    claims = PortClaims(host.paths.state_dir / "ports")
    owner = f"{net.name} {att.netns} {att.ifname}"
    text = ", ".join(str(s) for s in specs)

    def claim(h: Host) -> None:
        done = []
        try:
            for s in specs:
                claims.claim(s, owner)
                done.append(s)
        except BaseException:
            for s in done:
                claims.release(s)
            raise

    def release(h: Host) -> None:
        for s in specs:
            claims.release(s)

    from cnictl.netlink.steps import SetHairpin

    return Plan([
        Call(f"claim host ports {text}", claim, release, lambda h: [f"# state: claim {text} under {claims.directory}"]),
        WriteSysctl(f"net.ipv4.conf.{net.bridge}.route_localnet", "1"),
        SetHairpin(att.host_ifname, True, was=bool(att.ports) or att.hairpin),
        host.fw_for(net.firewall).publish(lambda: _forwards(net, container_ip(), specs), f"{text} -> {att.netns}/{att.ifname}"),
    ])


def _unpublish_plan(host: Host, net: Network, att: Attachment, specs: Sequence[Any]) -> Plan:
    from cnictl.ports import PortClaims

    claims = PortClaims(host.paths.state_dir / "ports")
    text = ", ".join(str(s) for s in specs)
    fwds = _forwards(net, _v4(att.addresses), specs) if att.addresses else []

    def release(h: Host) -> None:
        for s in specs:
            claims.release(s)

    plan = Plan([host.fw_for(net.firewall).unpublish(fwds, f"{text} of {att.netns}/{att.ifname}"),
                 Call(f"release host ports {text}", release, explain=lambda h: [f"# state: release {text}"])])
    if len(specs) == len(att.ports) and not att.hairpin:  # the last ones go: the port needs hairpin no more
        from cnictl.netlink.steps import SetHairpin

        plan.add(SetHairpin(att.host_ifname, False))
    return plan


def _detach_plan(host: Host, store: Store, net: Network, att: Attachment, ipam: Any) -> Plan:
    from cnictl.drivers import get_driver
    from cnictl.ports import PortSpec

    plan = Plan()
    if att.ports:
        plan.extend(_unpublish_plan(host, net, att, [PortSpec.from_dict(p) for p in att.ports]))
    plan.extend(get_driver(net.driver).plan_detach(host, net, att))
    cid, ifname = att.container_id, att.ifname
    plan.add(Call(f"release addresses of {cid}/{ifname}", lambda h: ipam.release(cid, ifname),
                  explain=lambda h: [f"# IPAM: remove the files in {ipam.directory} holding '{cid}\\r\\n{ifname}'"]))
    key = attachment_key(att.netns_key, att.ifname)
    plan.add(Call(f"forget attachment {att.netns}/{ifname}", lambda h: store.delete_attachment(net.name, key),
                  explain=lambda h: [f"# state: remove {store.attachment_path(net.name, key)}"]))
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
    from cnictl.ipam.hostlocal import HostLocalStore

    store, net, ref, key = _endpoint(host, network, netns, ifname)
    ipam = HostLocalStore(host.paths.ipam_root / network)
    att = store.get_attachment(network, key)
    if att is None:
        cid = container_id or ref.key
        hname = host_ifname(network, ref.key, ifname) if net.driver == "bridge" else ""
        leftovers = ipam.find(cid, ifname) or (hname and host.nl().link_index(hname) is not None)
        if not leftovers:
            return Outcome({"network": network, "netns": ref.spec, "ifname": ifname, "detached": False}, Plan(),
                           [f"{ref.spec}/{ifname} is not attached to {network}; nothing to do"])
        att = Attachment(network, cid, ref.spec, ref.key, ifname, hname, "", [], [])
    plan = _detach_plan(host, store, net, att, ipam)
    result = {"network": network, "netns": ref.spec, "ifname": ifname, "detached": True, "addresses": att.addresses}
    return _teardown(host, store, plan, opts, result, f"detach of {ref.spec}/{ifname}", "run the same detach again")


# ---------------------------------------------------------------------------------------
# IPAM
# ---------------------------------------------------------------------------------------
def ipam_show(host: Host, network: str | None = None) -> list[dict[str, Any]]:
    from cnictl.ipam.hostlocal import HostLocalStore

    store = Store(host.paths)
    nets = [store.get_network(validate_network_name(network))] if network else store.networks()
    out = []
    for net in nets:
        ipam = HostLocalStore(host.paths.ipam_root / net.name)
        owners = {(a.container_id, a.ifname): a.netns for a in store.attachments(net.name)}
        if net.shim:
            from cnictl.drivers.macvlan import HOST_ACCESS_ID

            owners[(HOST_ACCESS_ID, net.shim)] = f"host ({net.shim})"
        allocs = ipam.allocations()
        ranges = _ranges(net)
        subnets = []
        for rng in ranges:
            used = sum(1 for a in allocs if rng.contains(a.ip))
            subnets.append({
                "subnet": str(rng.subnet),
                "gateway": str(rng.gateway) if rng.gateway else None,
                "range": f"{rng.range_start}-{rng.range_end}",
                "capacity": rng.capacity(),
                "used": used,
                "free": rng.capacity() - used,
            })
        out.append({
            "network": net.name,
            "directory": str(ipam.directory),
            "subnets": subnets,
            "allocations": [
                {"ip": str(a.ip), "container_id": a.container_id, "ifname": a.ifname,
                 "netns": owners.get((a.container_id, a.ifname))}
                for a in allocs
            ],
        })
    return out


def ipam_release(host: Host, network: str, ip: str | None = None, container_id: str | None = None,
                 *, dry_run: bool = False) -> dict[str, Any]:
    """Release one address or all of a container id; with dry_run, only report what would go."""
    from cnictl.ipam.hostlocal import HostLocalStore

    if (ip is None) == (container_id is None):
        raise ConfigError("give either an IP or --id ID (not both)", hint=f"example: {cli('ipam release lab 10.20.0.5')}")
    store = Store(host.paths)
    net = store.get_network(validate_network_name(network))
    ipam = HostLocalStore(host.paths.ipam_root / net.name)
    from cnictl.plan import held

    with contextlib.nullcontext() if dry_run else held():
        released = _release(ipam, network, ip, container_id, dry_run)
    return {"network": network, "released": released, "dry_run": dry_run}


def _release(ipam: Any, network: str, ip: str | None, container_id: str | None, dry_run: bool) -> list[str]:
    from cnictl.ipam.allocator import parse_ip

    released: list[str] = []
    if ip is not None:
        want = parse_ip(ip, "IP")
        held = want in {a.ip for a in ipam.allocations()} if dry_run else None
        if (ipam.release_ip(want) is None) if not dry_run else not held:
            raise NotFoundError(f"{want} is not reserved in {network}", hint=f"see: {cli('ipam show ' + network)}")
        released.append(str(want))
    else:
        for a in ipam.allocations():
            if a.container_id == container_id and (dry_run or ipam.release_ip(a.ip) is not None):
                released.append(str(a.ip))
        if not released:
            raise NotFoundError(f'no address of container "{container_id}" in {network}',
                                hint=f"see: {cli('ipam show ' + network)}")
    return released


# ---------------------------------------------------------------------------------------
# forwarding
# ---------------------------------------------------------------------------------------
FWD_V4 = "net.ipv4.conf.all.forwarding"
FWD_V6 = "net.ipv6.conf.all.forwarding"


def forward_set(host: Host, enable: bool, *, ipv6: bool = False, persist: bool = False,
                opts: RunOptions | None = None) -> Outcome:
    opts = opts or RunOptions()
    from cnictl.sysctl import WriteSysctl

    value = "1" if enable else "0"
    keys = [FWD_V4] + ([FWD_V6] if ipv6 else [])
    plan = Plan([WriteSysctl(k, value, restore=True) for k in keys])
    conf = host.paths.sysctl_dir / "90-cnictl-forward.conf"
    if persist:
        def write_conf(h: Host) -> None:
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text("# written by cnictl forward --persist\n" + "".join(f"{k} = {value}\n" for k in keys))

        body = "".join(f"{k} = {value}\\n" for k in keys)
        plan.add(Call(f"persist in {conf}", write_conf, explain=lambda h: [
            f"printf '# written by cnictl forward --persist\\n{body}' > {conf}"]))
    applied = _run(host, plan, opts)
    changed = [s.key for s in plan.steps if isinstance(s, WriteSysctl) and s.changed]
    result = {"forwarding": {k: value for k in keys}, "changed": changed, "persisted": str(conf) if persist else None}
    return Outcome(result, plan, applied=applied)


def forward_status(host: Host, *, ipv6: bool = False) -> list[dict[str, Any]]:
    from cnictl import sysctl

    names = ["all", "default"] + sorted(str(link["ifname"]) for link in host.nl().links())
    rows = []
    for name in names:
        row: dict[str, Any] = {"interface": name}
        for fam, enabled in (("ipv4", True), ("ipv6", ipv6)):
            if not enabled:
                continue
            try:
                row[fam] = sysctl.read(f"net.{fam}.conf.{name}.forwarding") == "1"
            except CnictlError:
                row[fam] = None
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------
# namespaces
# ---------------------------------------------------------------------------------------
class CreateNetns(Step):
    def __init__(self, name: str) -> None:
        self.name = name
        self.summary = f"create network namespace {name}"
        self.created = False

    def apply(self, host: Host) -> None:
        from cnictl import netns

        netns.create(self.name)
        self.created = True

    def undo(self, host: Host) -> None:
        from cnictl import netns

        if self.created:
            host.forget(NetnsRef.parse(self.name))
            netns.remove(self.name, missing_ok=True)

    def explain(self, host: Host) -> list[str]:
        return [f"ip netns add {self.name}"]


def ns_add(host: Host, name: str, opts: RunOptions | None = None, *, exist_ok: bool = False) -> Outcome:
    opts = opts or RunOptions()
    from cnictl.netlink.steps import SetUp

    ref = NetnsRef.parse(name)
    if ref.exists():
        if exist_ok:
            return Outcome({"name": name, "path": ref.path}, Plan(), [f'network namespace "{name}" already exists'])
        raise ConflictError(f'network namespace "{name}" already exists', hint="pick another name or use --exist-ok")
    plan = Plan([CreateNetns(name), SetUp("lo", ref)])
    applied = _run(host, plan, opts)
    return Outcome({"name": name, "path": ref.path}, plan, applied=applied)


def ns_list(host: Host) -> list[dict[str, Any]]:
    from cnictl import netns

    return [{"name": n, "path": f"{netns.NETNS_RUN_DIR}/{n}"} for n in netns.list_named()]


def ns_remove(host: Host, name: str, opts: RunOptions | None = None, *, missing_ok: bool = False) -> Outcome:
    """Remove a namespace, detaching it from every cnictl network first (nothing left half-done)."""
    opts = opts or RunOptions()
    from cnictl import netns
    from cnictl.ipam.hostlocal import HostLocalStore

    ref = NetnsRef.parse(name)
    if not ref.exists():
        if missing_ok:
            return Outcome({"name": name, "removed": False}, Plan(), [f'network namespace "{name}" was already gone'])
        raise NetnsNotFoundError(f'network namespace "{name}" not found', hint=f"see: {cli('ns ls')}")
    store = Store(host.paths)
    plan = Plan()
    detached = []
    for net in store.networks():
        for att in store.attachments(net.name):
            if att.netns_key == ref.key:
                plan.extend(_detach_plan(host, store, net, att, HostLocalStore(host.paths.ipam_root / net.name)))
                detached.append(f"{net.name}/{att.ifname}")

    def rm(h: Host) -> None:
        h.forget(ref)
        netns.remove(name, missing_ok=True)

    plan.add(Call(f"remove network namespace {name}", rm, explain=lambda h: [f"ip netns del {name}"]))
    from cnictl.links import LinkStore

    links = LinkStore(host.paths.state_dir)
    gone = [r for r in links.records() if ref.key in (r.netns_key1, r.netns_key2)]
    if gone:  # a veth pair goes with either of its namespaces: its record goes too

        def forget(h: Host) -> None:
            for r in gone:
                links.delete(r)

        plan.add(Call(f"forget {len(gone)} link(s) of {name}", forget,
                      explain=lambda h: [f"# state: remove {links.path(r.netns_key1, r.ifname1)}" for r in gone]))
    if opts.dry_run:
        return Outcome({"name": name, "removed": False, "detached": detached}, plan)
    errors = plan.teardown(host, echo=opts.echo)
    if errors:
        raise CnictlError(f'namespace "{name}" was only partly removed: ' + "; ".join(errors))
    return Outcome({"name": name, "removed": True, "detached": detached}, plan, applied=True)


def ns_exec(name: str, argv: list[str]) -> None:
    """Replace this process with *argv* running inside the namespace (does not return)."""
    from cnictl.netns import setns_fd

    if not argv:
        raise ConfigError("no command given", hint=f"example: {cli(f'ns exec {name} -- ip addr')}")
    ref = NetnsRef.parse(name)
    fd = ref.open()
    setns_fd(fd)
    os.close(fd)
    try:
        os.execvp(argv[0], argv)
    except FileNotFoundError:
        raise NotFoundError(f'command "{argv[0]}" not found in PATH', hint="install it or give its full path") from None


# ---------------------------------------------------------------------------------------
# firewall view
# ---------------------------------------------------------------------------------------
def fw_show(host: Host, network: str | None = None) -> dict[str, Any]:
    from cnictl.drivers.bridge import firewall_of

    store = Store(host.paths)
    net = store.get_network(validate_network_name(network)) if network is not None else None
    fw = firewall_of(net) if net is not None else None
    names = [net.firewall] if net is not None else sorted({n.firewall for n in store.networks()})
    backends = [host.fw_for(n) for n in names or [host.fw.name]]
    return {"backends": [b.name for b in backends], "rules": [r for b in backends for r in b.rules(fw)],
            "text": "".join(b.text(fw) for b in backends)}


# ---------------------------------------------------------------------------------------
# published ports
# ---------------------------------------------------------------------------------------
def _attached(host: Host, network: str, netns: str, ifname: str) -> tuple[Store, Network, Attachment]:
    store, net, ref, key = _endpoint(host, network, netns, ifname)
    att = store.get_attachment(network, key)
    if att is None:
        raise NotFoundError(f"{ref.spec}/{ifname} is not attached to {network}",
                            hint=f"attach it first: {cli(f'attach {network} {ref.spec}')}")
    return store, net, att


def port_publish(host: Host, network: str, netns: str, spec: str, opts: RunOptions | None = None, *,
                 ifname: str = "eth0") -> Outcome:
    """Publish one more mapping on an existing attachment."""
    opts = opts or RunOptions()
    from cnictl.ports import PortSpec

    store, net, att = _attached(host, network, netns, ifname)
    specs = _port_specs(host, net, [spec], PortSpec.parse)
    plan = _publish_plan(host, net, att, specs, lambda: _v4(att.addresses))

    def save(h: Host) -> None:
        att.ports = att.ports + [s.to_dict() for s in specs]
        store.save_attachment(att)

    def unsave(h: Host) -> None:
        att.ports = [p for p in att.ports if p not in [s.to_dict() for s in specs]]
        store.save_attachment(att)

    plan.add(Call(f"record {spec} on {att.netns}/{ifname}", save, unsave))
    result = {"network": network, "netns": att.netns, "ifname": ifname, "published": [s.to_dict() for s in specs]}
    if opts.dry_run:
        return Outcome(result, plan)
    with store.locked(exclusive=False):
        _run(host, plan, opts)
    return Outcome(result, plan, applied=True)


def port_unpublish(host: Host, network: str, netns: str, spec: str, opts: RunOptions | None = None, *,
                   ifname: str = "eth0") -> Outcome:
    opts = opts or RunOptions()
    from cnictl.ports import PortSpec

    store, net, att = _attached(host, network, netns, ifname)
    want = PortSpec.parse(spec)
    match = [p for p in att.ports if PortSpec.from_dict(p) == want]
    if not match:
        have = ", ".join(str(PortSpec.from_dict(p)) for p in att.ports) or "none"
        raise NotFoundError(f"{want} is not published on {att.netns}/{ifname} (published: {have})",
                            hint=f"see: {cli('port ls ' + network)}")
    plan = _unpublish_plan(host, net, att, [want])

    def save(h: Host) -> None:
        att.ports = [p for p in att.ports if p not in match]
        store.save_attachment(att)

    plan.add(Call(f"record removal of {want}", save))
    result = {"network": network, "netns": att.netns, "ifname": ifname, "unpublished": [want.to_dict()]}
    return _teardown(host, store, plan, opts, result, f"unpublish of {want}", "run it again")


def port_list(host: Host, network: str | None = None) -> list[dict[str, Any]]:
    from cnictl.ports import PortSpec

    store = Store(host.paths)
    nets = [store.get_network(validate_network_name(network))] if network else store.networks()
    rows = []
    for net in nets:
        for att in store.attachments(net.name):
            for p in att.ports:
                s = PortSpec.from_dict(p)
                rows.append({
                    "network": net.name, "netns": att.netns, "ifname": att.ifname,
                    "container_ip": _v4(att.addresses) if att.addresses else None,
                    "host_ip": s.host_ip or "0.0.0.0", "host_ports": _range(s.host_port, s.count),
                    "container_ports": _range(s.container_port, s.count), "proto": s.proto, "spec": str(s),
                })
    return rows


def _range(start: int, count: int) -> str:
    return str(start) if count == 1 else f"{start}-{start + count - 1}"


# ---------------------------------------------------------------------------------------
# firewall reload and check
# ---------------------------------------------------------------------------------------
def _intents(host: Host) -> dict[str, tuple[list[Any], list[Any]]]:
    """Per firewall backend in use: every network's firewall intent and every published mapping (from state)."""
    from cnictl.drivers.bridge import firewall_of
    from cnictl.ports import PortSpec

    store = Store(host.paths)
    out: dict[str, tuple[list[Any], list[Any]]] = {}
    networks = store.networks()
    for net in networks:
        if net.driver != "bridge":
            continue  # macvlan/ipvlan networks have no rules of cnictl's
        nets, fwds = out.setdefault(net.firewall, ([], []))
        nets.append(firewall_of(net, _open_peers(networks, net)))
        for att in store.attachments(net.name):
            if att.ports and att.addresses:
                fwds += _forwards(net, _v4(att.addresses), [PortSpec.from_dict(p) for p in att.ports])
    return out


def fw_reload(host: Host) -> dict[str, Any]:
    """Re-apply every rule cnictl owns (after a flush or a firewall restart), one transaction per backend table."""
    from cnictl.plan import held

    intents = _intents(host)
    with held():
        count = sum(host.fw_for(name).reload(nets, fwds) for name, (nets, fwds) in intents.items())
    return {"backends": sorted(intents), "networks": sum(len(n) for n, _ in intents.values()),
            "port_mappings": sum(len(f) for _, f in intents.values()), "commands": count}


def fw_check(host: Host) -> dict[str, Any]:
    """What is missing or in the way: cnictl's own rules, foreign drop policies, br_netfilter, legacy iptables."""
    import shutil
    import subprocess

    from cnictl import sysctl

    intents = _intents(host)
    problems: list[str] = []
    notes: list[str] = []
    nets = [n for ns, _ in intents.values() for n in ns]
    fwds = [f for _, fs in intents.values() for f in fs]
    for name, (bnets, bfwds) in intents.items():
        backend = host.fw_for(name)
        problems += backend.check(bnets, bfwds)
        for chain in backend.foreign_forward_drops():
            problems.append(f"nft chain {chain} drops forwarded traffic by policy: cnictl networks cannot reach out "
                            "unless that chain accepts their bridges")
    if any(not n.internal for n in nets):
        with contextlib.suppress(CnictlError):
            if sysctl.read("net.ipv4.conf.all.forwarding") != "1":
                problems.append(f"IPv4 forwarding is off: containers cannot reach out (run: {cli('forward enable')})")
    with contextlib.suppress(CnictlError):
        if sysctl.read("net.bridge.bridge-nf-call-iptables") == "1":
            notes.append("br_netfilter is on (net.bridge.bridge-nf-call-iptables=1): traffic within a bridge also "
                         "passes the IP firewall hooks")
    legacy = shutil.which("iptables-legacy-save")
    selected = subprocess.run(["iptables", "-V"], capture_output=True, text=True).stdout if shutil.which("iptables") else ""
    if legacy and "legacy" not in selected:  # when iptables itself is legacy, those rules are cnictl's own
        out = subprocess.run([legacy], capture_output=True, text=True, timeout=10).stdout
        if ":FORWARD DROP" in out:
            problems.append("iptables-legacy FORWARD policy is DROP: it drops cnictl's forwarded traffic")
        if any(line.startswith("-A ") for line in out.splitlines()):
            problems.append("iptables-legacy rules are present next to nftables rules: both apply, in an order "
                            "that is hard to predict (move them to nftables or iptables-nft)")
    return {"backends": sorted(intents), "ok": not problems, "problems": problems, "notes": notes,
            "networks": len(nets), "port_mappings": len(fwds)}


# ---------------------------------------------------------------------------------------
# CNI plugin support (cnictl-cni): attachments found by container id, DEL without a
# namespace, CHECK of the kernel state, GC of stale attachments
# ---------------------------------------------------------------------------------------
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
    from cnictl.ipam.hostlocal import HostLocalStore

    validate_network_name(network)
    validate_ifname(ifname)
    store = Store(host.paths)
    result: dict[str, Any] = {"network": network, "container_id": container_id, "ifname": ifname, "detached": False}
    net = store.find_network(network)
    if net is None:
        return Outcome(result, Plan(), [f'network "{network}" not found; nothing to do'])
    ipam = HostLocalStore(host.paths.ipam_root / network)
    att = find_attachment(host, network, container_id, ifname)
    if att is not None:
        plan = _detach_plan(host, store, net, att, ipam)
        result["addresses"] = att.addresses
    else:
        ref = NetnsRef.parse(netns) if netns else None
        hname = host_ifname(network, ref.key, ifname) if ref is not None and net.driver == "bridge" else ""
        if not ipam.find(container_id, ifname) and not link_exists(hname):
            return Outcome(result, Plan(), [f"{container_id}/{ifname} is not attached to {network}; nothing to do"])
        if ref is not None:
            stub = Attachment(network, container_id, ref.spec, ref.key, ifname, hname, "", [], [])
            plan = _detach_plan(host, store, net, stub, ipam)
        else:
            plan = Plan([Call(f"release addresses of {container_id}/{ifname}",
                              lambda h: ipam.release(container_id, ifname))])
    result["detached"] = True
    return _teardown(host, store, plan, opts, result, f"detach of {container_id}/{ifname}", "run the same DEL again")


def _default_routes(ref: NetnsRef, host: Host) -> set[str]:
    """Gateways of the default routes inside *ref* (read from /proc, which shows the visiting thread's namespace)."""
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
    net = store.get_network(validate_network_name(network))
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
    if net.driver == "bridge" and att.host_ifname and not link_exists(att.host_ifname):
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
    from cnictl.ipam.hostlocal import HostLocalStore

    validate_network_name(network)
    store = Store(host.paths)
    net = store.find_network(network)
    result: dict[str, Any] = {"network": network, "detached": [], "released": []}
    if net is None:
        return Outcome(result, Plan(), [f'network "{network}" not found; nothing to collect'])
    ipam = HostLocalStore(host.paths.ipam_root / network)
    plan = Plan()
    recorded = set()
    valid_ids = {cid for cid, _ in valid}
    for att in store.attachments(network):
        recorded.add((att.container_id, att.ifname))
        if (att.container_id, att.ifname) not in valid:
            plan.extend(_detach_plan(host, store, net, att, ipam))
            result["detached"].append(f"{att.container_id}/{att.ifname}")
    keep = {net.shim} if net.shim else set()
    for alloc in ipam.allocations():
        pair = (alloc.container_id, alloc.ifname)
        stale = pair not in valid if alloc.ifname else alloc.container_id not in valid_ids
        if stale and pair not in recorded and alloc.ifname not in keep:
            plan.add(Call(f"release {alloc.ip} of {alloc.container_id}/{alloc.ifname}", _releaser(ipam, alloc.ip)))
            result["released"].append(str(alloc.ip))
    if not plan.steps:
        return Outcome(result, plan)
    return _teardown(host, store, plan, opts, result, f'garbage collection of network "{network}"', "run GC again")


def _releaser(ipam: Any, ip: Any) -> Callable[[Host], Any]:
    return lambda h: ipam.release_ip(ip)
