"""IPAM use cases: what each network's host-local directory holds (`ipam show`), releasing addresses by hand
(`ipam release`), and the address ranges and dry-run predictions attach uses.

    >>> from cnictl.host import Host
    >>> with Host(netns="h1", state_dir="/tmp/s") as host:                # doctest: +SKIP
    ...     ipam_show(host, "lab")[0]["subnets"]
"""

from __future__ import annotations

from cnictl.errors import ConfigError, IpamExhaustedError, NotFoundError, cli
from cnictl.host import Host
from cnictl.ipam.steps import ReleaseIP
from cnictl.model import Network, validate_network_name
from cnictl.ops.runner import Outcome, RunOptions, _run
from cnictl.plan import Plan
from cnictl.store import Store

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from cnictl.ops.requests import IpamView


def _ranges(net: Network) -> list[Any]:
    from cnictl.ipam.allocator import Range

    return [Range.build(s.subnet, s.gateway, s.ip_range) for s in net.subnets]



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


def ipam_show(host: Host, network: str | None = None) -> list[IpamView]:
    from cnictl.drivers import get_driver
    from cnictl.ipam.hostlocal import HostLocalStore
    from cnictl.ops.requests import AllocationView, IpamView, SubnetUsage

    store = Store(host.paths)
    nets = [store.get_network(validate_network_name(network))] if network else store.networks()
    out = []
    for net in nets:
        ipam = HostLocalStore(host.paths.ipam_root / net.name)
        owners = {(a.container_id, a.ifname): a.netns for a in store.attachments(net.name)}
        owners.update(get_driver(net.driver).host_reservations(net))  # the host-access shim's
        allocs = ipam.allocations()
        ranges = _ranges(net)
        subnets = []
        for rng in ranges:
            used = sum(1 for a in allocs if rng.contains(a.ip))
            subnets.append(SubnetUsage(
                subnet=str(rng.subnet),
                gateway=str(rng.gateway) if rng.gateway else None,
                range=f"{rng.range_start}-{rng.range_end}",
                capacity=rng.capacity(),
                used=used,
                free=rng.capacity() - used,
            ))
        out.append(IpamView(
            network=net.name,
            directory=str(ipam.directory),
            subnets=subnets,
            allocations=[
                AllocationView(str(a.ip), a.container_id, a.ifname, owners.get((a.container_id, a.ifname)))
                for a in allocs
            ],
        ))
    return out


def ipam_release(host: Host, network: str, ip: str | None = None, container_id: str | None = None,
                 opts: RunOptions | None = None) -> Outcome:
    """Release one address or all of a container id, as a plan of ReleaseIP steps (a dry run only explains it).

    Ctrl-C is held until every address is released (a release has nothing to undo: the change stands)."""
    from cnictl.ipam.hostlocal import HostLocalStore
    from cnictl.plan import deferred_signals

    opts = opts or RunOptions()
    if (ip is None) == (container_id is None):
        raise ConfigError("give either an IP or --id ID (not both)", hint=f"example: {cli('ipam release lab 10.20.0.5')}")
    store = Store(host.paths)
    net = store.get_network(validate_network_name(network))
    plan = _release_plan(HostLocalStore(host.paths.ipam_root / net.name), network, ip, container_id)
    from cnictl.ops.requests import IpamReleased

    result = IpamReleased(network, [s.ip for s in plan.steps if isinstance(s, ReleaseIP)], opts.dry_run)
    if opts.dry_run:
        return Outcome(result, plan)
    with deferred_signals():
        _run(host, plan, opts)
    return Outcome(result, plan, applied=True)


def _release_plan(ipam: Any, network: str, ip: str | None, container_id: str | None) -> Plan:
    """One ReleaseIP per address to release: *ip*, or every address of *container_id* (NotFoundError: none)."""
    from cnictl.ipam.allocator import parse_ip

    held = ipam.allocations()
    if ip is not None:
        want = parse_ip(ip, "IP")
        chosen = [a for a in held if a.ip == want]
        if not chosen:
            raise NotFoundError(f"{want} is not reserved in {network}", hint=f"see: {cli('ipam show ' + network)}")
    else:
        chosen = [a for a in held if a.container_id == container_id]
        if not chosen:
            raise NotFoundError(f'no address of container "{container_id}" in {network}',
                                hint=f"see: {cli('ipam show ' + network)}")
    return Plan([ReleaseIP(ipam, a.ip, (a.container_id, a.ifname)) for a in chosen])
