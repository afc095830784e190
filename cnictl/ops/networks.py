"""Networks: `net create` (validated against the host and the other networks, then planned by the driver),
`net ls`, `net inspect`, `net rm`, and how an existing network differs from a request (`--exist-ok`).

    >>> from cnictl.host import Host
    >>> with Host(netns="h1", state_dir="/tmp/s") as host:                # doctest: +SKIP
    ...     create_network(host, NetworkRequest(name="lab", subnets=["10.20.0.0/24"]))
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Sequence

from cnictl.drivers.base import CreateContext
from cnictl.errors import CnictlError, ConfigError, ConflictError, IpamExhaustedError, cli
from cnictl.host import Host
from cnictl.model import Network, NetworkRequest, SubnetSpec, validate_mtu, validate_network_name
from cnictl.ops.attachments import _detach_plan
from cnictl.ops.firewall import _firewall_context
from cnictl.ops.requests import NetworkView, Removed
from cnictl.ops.runner import Outcome, RunOptions, _now, _recover_first, _run
from cnictl.plan import Plan
from cnictl.store import RemoveNetwork, SaveNetwork, Store

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from cnictl.cni.emit import RemoveConflist, WriteConflist
    from cnictl.model import Attachment

DEFAULT_POOL = "10.89.0.0/16"
DEFAULT_POOL_PREFIX = 24


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
    _recover_first(host, opts)
    validate_network_name(req.name)
    if opts.dry_run:
        return _create_network(host, req, opts, exist_ok, settings)
    with Store(host.paths).locked(exclusive=True, host=host):
        return _create_network(host, req, opts, exist_ok, settings)


def asked_settings(req: NetworkRequest) -> list[str]:
    """The settings of *req* other than their default (what a user asked for), and the driver: the common
    fields, then the driver options by name."""
    from cnictl import drivers

    default = NetworkRequest(name=req.name)
    common = [k for k in _SETTINGS if getattr(req, k) != getattr(default, k)]
    return ["driver", *common, *(o.name for o in drivers.request_options() if req.asked(o.name))]


_SETTINGS = ("subnets", "gateway", "ip_range", "mtu", "internal", "firewall", "labels")  # and the driver options
_FLAGS = {"subnets": "--subnet", "gateway": "--gateway", "ip_range": "--ip-range", "mtu": "--mtu",
          "internal": "--internal", "firewall": "--firewall", "driver": "--driver", "labels": "--label"}


def network_differences(net: Network, req: NetworkRequest, settings: Sequence[str]) -> list[str]:
    """How the existing *net* differs from the *settings* of *req* it was asked to have (empty: it is as asked)."""
    from cnictl import drivers

    driver = drivers.get_driver(net.driver)
    out = []
    for key in settings:
        flag = _FLAGS.get(key, key)
        if key == "subnets":
            try:
                want_set = {str(ipaddress.ip_network(s, strict=False)) for s in req.subnets}
            except ValueError:
                want_set = set(req.subnets)
            have: Any = sorted(s.subnet for s in net.subnets)
            same = want_set == set(have)
            want: Any = sorted(want_set)
        elif key == "gateway":
            have, want = [s.gateway for s in net.subnets], req.gateway
            same = want is None or str(want) in have
        elif key == "ip_range":
            have, want = [s.ip_range for s in net.subnets if s.ip_range], req.ip_range
            same = want is None or want in have
        elif key == "labels":
            have, want = dict(net.labels), req.labels
            same = all(have.get(k) == v for k, v in want.items())
        elif key in _FLAGS:
            have, want = getattr(net, key, None), getattr(req, key)
            same = want == have
        else:  # a driver option
            opt = drivers.find_option(key)
            flag = opt.flag if opt is not None else key
            same, have, want = driver.compare(net, req, key)
        if not same:
            out.append(f"{flag}: {_shown(have)} here, {_shown(want)} asked")
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
            return Outcome(network_view(existing), Plan(), [f'network "{req.name}" already exists; left as it is'])
        raise ConflictError(f'network "{req.name}" already exists', hint="pick another name or use --exist-ok")
    if len(req.subnets) > 2:
        raise ConfigError("give at most two --subnet values (one IPv4, one IPv6)")
    if req.gateway and len(req.subnets) != 1:
        raise ConfigError("--gateway needs exactly one --subnet (it belongs to that subnet)")
    if req.ip_range and len(req.subnets) != 1:
        raise ConfigError("--ip-range needs exactly one --subnet (it must lie inside that subnet)")
    from cnictl.firewall import get_backend

    backend = get_backend(req.firewall or host.firewall_name).name  # unknown names raise ConfigError
    others = store.networks()
    taken = [s.network for n in others for s in n.subnets]
    subnet_texts = list(req.subnets) or ([_pick_subnet(host, taken)] if driver.picks_subnet else [])
    specs: list[SubnetSpec] = []
    for text in subnet_texts:
        rng = Range.build(text, req.gateway, req.ip_range)
        specs.append(SubnetSpec(subnet=str(rng.subnet), gateway=str(rng.gateway), ip_range=req.ip_range))
    if len({s.network.version for s in specs}) != len(specs):
        raise ConfigError("two --subnet values of the same IP family: give one IPv4 and one IPv6 subnet")
    validate_mtu(req.mtu, ipv6=any(s.network.version == 6 for s in specs))
    net, notices = driver.validate(host, req, CreateContext(specs, others, backend, _now()))
    for s in specs:
        for other in others:
            for o in other.subnets:
                if s.network.version == o.network.version and s.network.overlaps(o.network):
                    raise ConflictError(
                        f'subnet {s.subnet} overlaps {o.subnet} of network "{other.name}"{driver.overlap_note(net, other)}',
                        hint=f"pick a free range, see: {cli('net ls')}",
                    )
    plan = _create_plan(host, store, net, others, req.cni_conf_dir)
    if opts.dry_run:
        return Outcome(network_view(net), plan)
    _run(host, plan, opts)  # the caller holds the exclusive state lock
    from cnictl.sysctl import WriteSysctl

    for step in plan.steps:
        if isinstance(step, WriteSysctl) and step.changed and step.key.endswith("all.forwarding"):
            fam = "IPv4" if "ipv4" in step.key else "IPv6"
            notices.append(f"enabled {fam} forwarding in this host ({step.key}=1)")
    return Outcome(network_view(net), plan, notices, applied=True)


def _create_plan(host: Host, store: Store, net: Network, others: list[Network], cni_conf_dir: str | None = None) -> Plan:
    """What `net create` applies for a validated *net*: the driver's steps, the conflist, the record."""
    from cnictl.drivers import get_driver

    plan = get_driver(net.driver).plan_create(host, net, _firewall_context(others, net))
    if cni_conf_dir:
        plan.add(_write_conflist(host, net, cni_conf_dir))
    plan.add(SaveNetwork(store, net))
    return plan


def _write_conflist(host: Host, net: Network, directory: str) -> WriteConflist:
    """The network's reference-plugin conflist in *directory* (checked now: what can't be expressed is refused)."""
    from pathlib import Path

    from cnictl.cni import emit

    net.cni_conf_dir = str(Path(directory).absolute())
    data = emit.conflist(net, str(host.paths.ipam_root))
    path = Path(net.cni_conf_dir) / emit.file_name(net.name)
    if path.exists():
        raise ConflictError(f"{path} already exists", hint="remove it, or give another --cni-conf-dir")
    return emit.WriteConflist(path, data, net.name)


def _remove_conflist(net: Network) -> RemoveConflist:
    from pathlib import Path

    from cnictl.cni import emit

    return emit.RemoveConflist(Path(str(net.cni_conf_dir)) / emit.file_name(net.name))


def network_view(net: Network, attachments: Any = None, ipam_dir: str | None = None) -> NetworkView:
    """*net* as a typed result, with its driver's part of what people see (link label, description, fields)."""
    from cnictl.drivers import get_driver

    driver = get_driver(net.driver)
    return NetworkView(net, attachments, ipam_dir, link=driver.link_label(net), description=driver.describe(net),
                       fields=tuple(driver.inspect_fields()))


def list_networks(host: Host) -> list[NetworkView]:
    """`net ls`: every network with how many attachments it has."""
    store = Store(host.paths)
    return [network_view(net, store.count_attachments(net.name)) for net in store.networks()]


def inspect_network(host: Host, name: str) -> NetworkView:
    """`net inspect`: one network with its attachments and its IPAM directory."""
    validate_network_name(name)
    store = Store(host.paths)
    net = store.get_network(name)
    return network_view(net, list(store.attachments(name)), str(host.paths.ipam_root / name))


def delete_network(host: Host, name: str, opts: RunOptions | None = None, *, force: bool = False) -> Outcome:
    opts = opts or RunOptions()
    _recover_first(host, opts)
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
    plan = _delete_plan(host, store, net, atts)
    if opts.dry_run:
        return Outcome(Removed(name, False), plan)
    with store.locked(exclusive=True, host=host):
        errors = plan.teardown(host, echo=opts.echo)
        if errors:
            raise CnictlError(
                f'network "{name}" was only partly removed: ' + "; ".join(errors),
                hint=f"fix the cause and run {cli('net rm ' + name)} again",
            )
    return Outcome(Removed(name, True, len(atts)), plan, applied=True)


def _delete_plan(host: Host, store: Store, net: Network, atts: list[Attachment]) -> Plan:
    """What `net rm` runs: detach every attachment, the driver's teardown, the conflist, the IPAM directory,
    and last the record, which goes only when all the rest went (RemoveNetwork is clean_only)."""
    from cnictl.drivers import get_driver
    from cnictl.ipam.hostlocal import HostLocalStore
    from cnictl.ipam.steps import DestroyIpamDir

    ipam = HostLocalStore(host.paths.ipam_root / net.name)
    fw = _firewall_context(store.networks(), net)
    plan = Plan()
    for att in atts:
        plan.extend(_detach_plan(host, store, net, att, ipam, fw.backend))
    plan.extend(get_driver(net.driver).plan_delete(host, net, fw))
    if net.cni_conf_dir:
        plan.add(_remove_conflist(net))
    plan.add(DestroyIpamDir(ipam))
    plan.add(RemoveNetwork(store, net.name))
    return plan

