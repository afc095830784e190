"""Published ports: `port publish/unpublish/ls` on an existing attachment, and the publish and unpublish plans
attach and detach reuse (host port claims, route_localnet, hairpin, the firewall backend's DNAT rules).

    >>> from cnictl.host import Host
    >>> with Host(netns="h1", state_dir="/tmp/s") as host:                # doctest: +SKIP
    ...     port_publish(host, "lab", "web", "8080:80")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cnictl.errors import ConfigError, NotFoundError, cli
from cnictl.host import Host
from cnictl.model import Attachment, Network, validate_network_name
from cnictl.ops.runner import Outcome, RunOptions, _endpoint, _recover_first, _run, _teardown
from cnictl.plan import Plan
from cnictl.store import Store

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from cnictl.firewall.base import FirewallBackend
    from cnictl.ops.requests import PortView


def _v4(cidrs: Any) -> str:
    for c in cidrs:
        if ":" not in c:
            return str(c).split("/")[0]
    raise ConfigError("published ports need an IPv4 address on the attachment", hint="give the network an IPv4 subnet")


def _port_specs(host: Host, net: Network, texts: Sequence[str], parse: Any) -> list[Any]:
    """Parse -p values and check each host address is one of this host's."""
    specs = [parse(t) for t in texts]
    if specs:
        from cnictl.drivers import get_driver

        get_driver(net.driver).check_publish(net)  # refuses where nothing is published (macvlan: no NAT)
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


def _host_link(net: Network) -> str:
    """The host link published ports go through (the network's bridge)."""
    from cnictl.drivers import get_driver

    return str(get_driver(net.driver).host_link(net))


def _forwards(net: Network, container_ip: str, specs: Sequence[Any]) -> list[Any]:
    from cnictl.firewall.base import PortForward

    bridge = _host_link(net)
    return [PortForward(net.name, bridge, container_ip, s.host_ip, s.host_port, s.container_port, s.count, s.proto)
            for s in specs]


def _publish_plan(host: Host, net: Network, att: Attachment, specs: Sequence[Any], container_ip: Callable[[], str],
                  fw: FirewallBackend) -> Plan:
    """Claim the host ports, let the bridge route 127/8 (for localhost access), add the DNAT elements (through
    *fw*, the network's backend, handed in by the use case)."""
    from cnictl.netlink.steps import SetHairpin
    from cnictl.ports import ClaimPorts, PortClaims
    from cnictl.sysctl import WriteSysctl

    claims = PortClaims(host.paths.state_dir / "ports")
    text = ", ".join(str(s) for s in specs)
    return Plan([
        ClaimPorts(claims, specs, f"{net.name} {att.netns} {att.ifname}"),
        WriteSysctl(f"net.ipv4.conf.{_host_link(net)}.route_localnet", "1"),
        SetHairpin(att.host_ifname, True, was=bool(att.ports) or att.hairpin),
        fw.publish(lambda: _forwards(net, container_ip(), specs), f"{text} -> {att.netns}/{att.ifname}"),
    ])


def _unpublish_plan(host: Host, net: Network, att: Attachment, specs: Sequence[Any], fw: FirewallBackend) -> Plan:
    from cnictl.ports import PortClaims, ReleasePorts

    claims = PortClaims(host.paths.state_dir / "ports")
    text = ", ".join(str(s) for s in specs)
    fwds = _forwards(net, _v4(att.addresses), specs) if att.addresses else []
    plan = Plan([fw.unpublish(fwds, f"{text} of {att.netns}/{att.ifname}"),
                 ReleasePorts(claims, specs)])
    if len(specs) == len(att.ports) and not att.hairpin:  # the last ones go: the port needs hairpin no more
        from cnictl.netlink.steps import SetHairpin

        plan.add(SetHairpin(att.host_ifname, False))
    return plan


def _port_publish_plan(host: Host, store: Store, net: Network, att: Attachment, specs: Sequence[Any]) -> Plan:
    """`port publish` on an existing attachment: the publish plan, then the record with the new mappings."""
    from cnictl.firewall import get_backend
    from cnictl.store import SaveAttachmentPorts

    plan = _publish_plan(host, net, att, specs, lambda: _v4(att.addresses), get_backend(net.firewall))
    added = [s.to_dict() for s in specs]
    plan.add(SaveAttachmentPorts(store, att, att.ports + added, "+" + ", +".join(str(s) for s in specs)))
    return plan


def _port_unpublish_plan(host: Host, store: Store, net: Network, att: Attachment, want: Any) -> Plan:
    """`port unpublish` of one mapping: its DNAT elements and claims, then the record without it."""
    from cnictl.firewall import get_backend
    from cnictl.ports import PortSpec
    from cnictl.store import SaveAttachmentPorts

    plan = _unpublish_plan(host, net, att, [want], get_backend(net.firewall))
    plan.add(SaveAttachmentPorts(store, att, [p for p in att.ports if PortSpec.from_dict(p) != want], f"-{want}"))
    return plan


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
    _recover_first(host, opts)
    from cnictl.ports import PortSpec

    store, net, att = _attached(host, network, netns, ifname)
    specs = _port_specs(host, net, [spec], PortSpec.parse)
    plan = _port_publish_plan(host, store, net, att, specs)
    from cnictl.ops.requests import PortsChanged

    result = PortsChanged(network, att.netns, ifname, "published", [s.to_dict() for s in specs])
    if opts.dry_run:
        return Outcome(result, plan)
    with store.locked(exclusive=False, host=host):
        _run(host, plan, opts)
    return Outcome(result, plan, applied=True)


def port_unpublish(host: Host, network: str, netns: str, spec: str, opts: RunOptions | None = None, *,
                   ifname: str = "eth0") -> Outcome:
    opts = opts or RunOptions()
    _recover_first(host, opts)
    from cnictl.ports import PortSpec

    store, net, att = _attached(host, network, netns, ifname)
    want = PortSpec.parse(spec)
    match = [p for p in att.ports if PortSpec.from_dict(p) == want]
    if not match:
        have = ", ".join(str(PortSpec.from_dict(p)) for p in att.ports) or "none"
        raise NotFoundError(f"{want} is not published on {att.netns}/{ifname} (published: {have})",
                            hint=f"see: {cli('port ls ' + network)}")
    plan = _port_unpublish_plan(host, store, net, att, want)
    from cnictl.ops.requests import PortsChanged

    result = PortsChanged(network, att.netns, ifname, "unpublished", [want.to_dict()])
    return _teardown(host, store, plan, opts, result, f"unpublish of {want}", "run it again")


def port_list(host: Host, network: str | None = None) -> list[PortView]:
    from cnictl.ops.requests import PortView
    from cnictl.ports import PortSpec

    store = Store(host.paths)
    nets = [store.get_network(validate_network_name(network))] if network else store.networks()
    rows = []
    for net in nets:
        for att in store.attachments(net.name):
            for p in att.ports:
                s = PortSpec.from_dict(p)
                rows.append(PortView(
                    network=net.name, netns=att.netns, ifname=att.ifname,
                    container_ip=_v4(att.addresses) if att.addresses else None,
                    host_ip=s.host_ip or "0.0.0.0", host_ports=_range(s.host_port, s.count),
                    container_ports=_range(s.container_port, s.count), proto=s.proto, spec=str(s),
                ))
    return rows


def _range(start: int, count: int) -> str:
    return str(start) if count == 1 else f"{start}-{start + count - 1}"

