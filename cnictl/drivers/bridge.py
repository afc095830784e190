"""The bridge driver: a Linux bridge with the gateway addresses, veth pairs into namespaces, NAT and isolation.

Equivalent commands for `net create lab --subnet 10.20.0.0/24` then `attach lab web`:

    ip link add br-lab type bridge
    ip addr add 10.20.0.1/24 dev br-lab
    ip link set br-lab up
    sysctl -w net.ipv4.conf.all.forwarding=1
    nft 'add table inet cnictl' ...                       (see cnictl.firewall.nftables)
    ip link add cniXXXX master br-lab type veth peer name eth0 netns web address 02:..
    sysctl -w net.ipv6.conf.cniXXXX.accept_ra=0
    ip link set cniXXXX up
    ip -n web addr add 10.20.0.2/24 dev eth0
    ip -n web link set eth0 up
    ip -n web route add default via 10.20.0.1 dev eth0
"""

from __future__ import annotations

from cnictl.drivers.base import NetworkDriver, Option
from cnictl.errors import ConflictError, UnsupportedFieldError
from cnictl.model import IFNAMSIZ, Network, host_ifname, random_mac, short_hash, validate_ifname
from cnictl.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from cnictl.drivers.base import CreateContext, FirewallContext
    from cnictl.firewall.base import NetworkFirewall
    from cnictl.host import Host
    from cnictl.ipam.hostlocal import HostLocalStore
    from cnictl.ipam.steps import ReserveIP
    from cnictl.model import Attachment, NetworkRequest
    from cnictl.netns import NetnsRef
    from cnictl.plan import Plan


@record
class BridgeOptions:
    """A bridge network's own settings: its bridge (made by cnictl, or an existing one it only uses), the
    bridge's MAC (set when cnictl makes it), NAT of traffic leaving the host, isolation from other networks
    (isolate) and between its own containers (icc False: bridge port isolation)."""

    bridge: str = ""
    managed_bridge: bool = True
    mac: str | None = None
    masquerade: bool = True
    isolate: bool = True
    icc: bool = True


def default_bridge_name(network: str) -> str:
    """
        >>> default_bridge_name("lab")
        'br-lab'
    """
    name = f"br-{network}"
    return name if len(name.encode()) <= IFNAMSIZ - 1 else "br-" + short_hash(network)


def options(net: Network) -> BridgeOptions:
    opts = net.options
    if not isinstance(opts, BridgeOptions):
        raise TypeError(f'network "{net.name}" is {net.driver}, not a bridge network')
    return opts


def firewall_of(net: Network, peers: tuple[str, ...] = ()) -> NetworkFirewall:
    from cnictl.firewall.base import NetworkFirewall

    o = options(net)
    return NetworkFirewall(
        open_peers=() if o.isolate else peers,
        network=net.name,
        bridge=o.bridge,
        subnets=tuple(s.subnet for s in net.subnets),
        masquerade=o.masquerade,
        internal=net.internal,
        isolate=o.isolate,
    )


class BridgeDriver(NetworkDriver):
    name = kind = "bridge"
    host_link_kinds = ("bridge",)
    options_type = BridgeOptions
    request_options = (
        Option("bridge", "--bridge", str, None, "bridge"),
        Option("masquerade", "--no-masquerade", bool, True, "ipMasq"),
        Option("isolate", "--no-isolate", bool, True, "isolate"),
        Option("icc", "--no-icc", bool, True, "icc"),
    )
    picks_subnet = True
    publishes_ports = True

    # ---- net create -------------------------------------------------------------------------
    def validate(self, host: Host, req: NetworkRequest, ctx: CreateContext) -> tuple[Network, list[str]]:
        """Check a bridge request against the host (nothing is changed): the bridge name, an existing bridge."""
        self.foreign_options(req)
        asked = req.option("bridge")
        bridge = asked or default_bridge_name(req.name)
        validate_ifname(bridge, "bridge name")
        for other in ctx.others:
            if isinstance(other.options, BridgeOptions) and other.options.bridge == bridge:
                raise ConflictError(f'bridge {bridge} is already used by network "{other.name}"', hint="use --bridge NAME")
        managed = True
        if host.nl().link_index(bridge) is not None:
            kind = host.nl().link_kind(bridge)
            if asked is None or kind != "bridge":
                raise ConflictError(
                    f"interface {bridge} already exists"
                    + ("" if kind == "bridge" else f" and is not a bridge ({kind or 'no link kind'})"),
                    hint="name another bridge with --bridge IFNAME",
                )
            managed = False
        opts = BridgeOptions(bridge=bridge, managed_bridge=managed, mac=random_mac() if managed else None,
                             masquerade=bool(req.option("masquerade")) and not req.internal,
                             isolate=bool(req.option("isolate")), icc=bool(req.option("icc")))
        net = Network(name=req.name, driver=self.name, subnets=ctx.specs, mtu=req.mtu, internal=req.internal,
                      labels=dict(req.labels), created=ctx.created, firewall=ctx.firewall, options=opts)
        return net, []

    def compare(self, net: Network, req: NetworkRequest, name: str) -> tuple[bool, Any, Any]:
        same, have, want = super().compare(net, req, name)
        if name == "masquerade":
            same = same or net.internal  # an internal network has no NAT, whatever was asked
        return same, have, want

    # ---- plans --------------------------------------------------------------------------------
    def plan_create(self, host: Host, net: Network, fw: FirewallContext) -> Plan:
        from cnictl.netlink.steps import AddAddr, AddBridge, SetUp
        from cnictl.plan import Plan
        from cnictl.sysctl import WriteSysctl

        o = options(net)
        plan = Plan()
        if o.managed_bridge:
            plan.add(AddBridge(o.bridge, net.mtu, o.mac))
        for s in net.subnets:
            plan.add(AddAddr(o.bridge, s.gateway_cidr))
        plan.add(SetUp(o.bridge, fresh=o.managed_bridge))
        if not net.internal:
            if net.has_ipv4:
                plan.add(WriteSysctl("net.ipv4.conf.all.forwarding", "1"))
            if net.has_ipv6:
                plan.add(WriteSysctl("net.ipv6.conf.all.forwarding", "1"))
        plan.add(fw.backend.setup_network(firewall_of(net, fw.peers)))
        return plan

    def plan_delete(self, host: Host, net: Network, fw: FirewallContext) -> Plan:
        from cnictl.netlink.steps import DelAddr, DelLink
        from cnictl.plan import Plan

        o = options(net)
        plan = Plan([fw.backend.teardown_network(firewall_of(net, fw.peers), last=fw.last)])
        if o.managed_bridge:
            plan.add(DelLink(o.bridge))
        else:
            for s in net.subnets:
                plan.add(DelAddr(o.bridge, s.gateway_cidr))
        return plan

    def plan_attach(
        self, host: Host, net: Network, att: Attachment, ref: NetnsRef, reserve: ReserveIP, store: HostLocalStore
    ) -> Plan:
        from cnictl.netlink.steps import AddVeth, ConfigureInterface, IsolatePort, SetHairpin
        from cnictl.plan import Plan
        from cnictl.sysctl import WriteSysctl

        o = options(net)
        plan = Plan([reserve])
        veth = AddVeth(att.host_ifname, att.ifname, ref, master=o.bridge, mtu=net.mtu, peer_mac=att.mac)
        plan.add(veth)
        if not o.icc:
            plan.add(IsolatePort(att.host_ifname))
        if att.hairpin:  # asked for (CNI hairpinMode): a chained portmap's hairpin NAT needs it; off by default
            plan.add(SetHairpin(att.host_ifname, True))
        plan.add(WriteSysctl(f"net.ipv6.conf.{att.host_ifname}.accept_ra", "0", optional=True, restore=False))
        if not net.has_ipv6:
            # IPv4-only network: no IPv6 on the container end (as docker does), so it sends no link-local
            # DAD/RS/MLD multicast that the bridge would flood to every port, which would make each attach
            # cost more as ports accumulate. Written before the link comes up.
            plan.add(WriteSysctl(f"net.ipv6.conf.{att.ifname}.disable_ipv6", "1", optional=True, restore=False, netns=ref))
        gateways = [] if net.internal else [s.gateway for s in net.subnets]
        plan.add(ConfigureInterface(veth, reserve, att.ifname, ref, gateways))
        return plan

    def plan_detach(self, host: Host, net: Network, att: Attachment) -> Plan:
        from cnictl.netlink.steps import DelLink
        from cnictl.plan import Plan

        return Plan([DelLink(att.host_ifname)])

    # ---- attachments and the host side --------------------------------------------------
    def host_ifname(self, net: Network, netns_key: str, ifname: str) -> str:
        return host_ifname(net.name, netns_key, ifname)

    def check_publish(self, net: Network) -> None:
        return None

    def host_link(self, net: Network) -> str | None:
        return options(net).bridge

    def firewall(self, net: Network, peers: tuple[str, ...] = ()) -> NetworkFirewall | None:
        return firewall_of(net, peers)

    def peer_link(self, net: Network) -> str | None:
        o = options(net)
        return None if o.isolate else o.bridge

    def needs_forwarding(self, net: Network) -> bool:
        return not net.internal

    def bridged_without_icc(self, net: Network) -> bool:
        return not options(net).icc

    # ---- what users see --------------------------------------------------------------------
    def link_label(self, net: Network) -> str:
        return options(net).bridge

    def describe(self, net: Network) -> str:
        return f"bridge {options(net).bridge}"

    def inspect_fields(self) -> list[tuple[str, str]]:
        return [("bridge", "bridge"), ("subnets", "subnets"), ("mtu", "mtu"), ("internal", "internal"),
                ("masquerade", "masquerade"), ("isolate", "isolate"), ("icc", "icc")]

    def cni_plugin(self, net: Network) -> dict[str, Any]:
        o = options(net)
        if not o.icc:
            raise UnsupportedFieldError(
                f'network "{net.name}" has --no-icc (bridge port isolation): the reference bridge plugin here has '
                "no portIsolation setting", hint=f"emit the cnictl flavour instead: cnictl cni emit {net.name} --plugin cnictl")
        return {"type": "bridge", "bridge": o.bridge, "isGateway": True, "ipMasq": False, "hairpinMode": True}
