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

from cnictl.firewall.base import NetworkFirewall
from cnictl.netlink.steps import AddAddr, AddBridge, AddVeth, DelAddr, DelLink, IsolatePort, SetHairpin, SetUp
from cnictl.plan import Plan
from cnictl.steps import ConfigureInterface
from cnictl.sysctl import WriteSysctl

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from cnictl.host import Host
    from cnictl.ipam.hostlocal import HostLocalStore
    from cnictl.model import Attachment, Network
    from cnictl.netns import NetnsRef
    from cnictl.steps import ReserveIP


def firewall_of(net: Network, peers: tuple[str, ...] = ()) -> NetworkFirewall:
    return NetworkFirewall(
        open_peers=() if net.isolate else peers,
        network=net.name,
        bridge=net.bridge,
        subnets=tuple(s.subnet for s in net.subnets),
        masquerade=net.masquerade,
        internal=net.internal,
        isolate=net.isolate,
    )


class BridgeDriver:
    kind = "bridge"

    def plan_create(self, host: Host, net: Network, peers: tuple[str, ...] = ()) -> Plan:
        plan = Plan()
        if net.managed_bridge:
            plan.add(AddBridge(net.bridge, net.mtu, net.mac))
        for s in net.subnets:
            plan.add(AddAddr(net.bridge, s.gateway_cidr))
        plan.add(SetUp(net.bridge, fresh=net.managed_bridge))
        if not net.internal:
            if net.has_ipv4:
                plan.add(WriteSysctl("net.ipv4.conf.all.forwarding", "1"))
            if net.has_ipv6:
                plan.add(WriteSysctl("net.ipv6.conf.all.forwarding", "1"))
        plan.add(host.fw_for(net.firewall).setup_network(firewall_of(net, peers)))
        return plan

    def plan_delete(self, host: Host, net: Network, peers: tuple[str, ...] = ()) -> Plan:
        plan = Plan([host.fw_for(net.firewall).teardown_network(firewall_of(net, peers))])
        if net.managed_bridge:
            plan.add(DelLink(net.bridge))
        else:
            for s in net.subnets:
                plan.add(DelAddr(net.bridge, s.gateway_cidr))
        return plan

    def plan_attach(
        self, host: Host, net: Network, att: Attachment, ref: NetnsRef, reserve: ReserveIP, store: HostLocalStore
    ) -> Plan:
        plan = Plan([reserve])
        veth = AddVeth(att.host_ifname, att.ifname, ref, master=net.bridge, mtu=net.mtu, peer_mac=att.mac)
        plan.add(veth)
        if not net.icc:
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
        return Plan([DelLink(att.host_ifname)])
