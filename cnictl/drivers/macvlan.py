"""The macvlan and ipvlan drivers: containers join the parent interface's LAN directly (no bridge, no NAT).

Each container gets a child link of the parent (macvlan: its own MAC; ipvlan: the parent's MAC) created
inside its namespace, an address from the network's range, and a default route via the LAN's own
router (the network's gateway, which cnictl does not own). By kernel design a parent cannot talk to its
own children: with --host-access a "shim" child in the host itself carries the host's traffic to them.

Equivalent commands for `net create lan --driver macvlan --parent eth0 --subnet 192.168.1.0/24
--gateway 192.168.1.1 --ip-range 192.168.1.192/27 --host-access` then `attach lan web`:

    ip link add link eth0 name mvh-lan type macvlan mode bridge      (the shim, only with --host-access)
    ip addr add 192.168.1.192/32 dev mvh-lan
    ip link set mvh-lan up
    ip link add link eth0 name eth0 netns web address 02:.. type macvlan mode bridge
    ip -n web addr add 192.168.1.193/24 dev eth0
    ip -n web link set eth0 up
    ip -n web route add default via 192.168.1.1 dev eth0
    ip route add 192.168.1.193/32 dev mvh-lan                         (the host's way to web)

With `--vlan 10` (or `--parent eth0.10`) the parent is an 802.1Q sub-interface made first:
    ip link add link eth0 name eth0.10 type vlan id 10 && ip link set eth0.10 up
"""

from __future__ import annotations

import os

from cnictl.errors import ConfigError, ConflictError, NotFoundError, cli
from cnictl.model import (
    Network,
    SubnetSpec,
    random_mac,
    shim_ifname,
    split_vlan_parent,
    validate_mode,
    validate_mtu,
)
from cnictl.netlink.child_steps import AddChild, AddVlan, DelChild, HostRoutes, ProbeChild
from cnictl.plan import Call, Plan, Step
from cnictl.steps import ConfigureInterface
from cnictl.sysctl import WriteSysctl

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from cnictl.host import Host
    from cnictl.ipam.hostlocal import HostLocalStore
    from cnictl.model import Attachment
    from cnictl.netns import NetnsRef
    from cnictl.steps import ReserveIP

HOST_ACCESS_ID = "cnictl-host-access"  # the container id of the shim's IPAM reservations


def build_network(host: Host, req: Any, others: list[Network], specs: list[SubnetSpec], created: str) -> tuple[
        Network, list[str]]:
    """Check a macvlan/ipvlan request against the host (nothing is changed) and return the network and notices."""
    driver = req.driver
    what = f"--driver {driver}"
    if not req.parent:
        raise ConfigError(f"{what} needs --parent IFNAME: the host interface on the LAN the containers join",
                          hint=f"example: {cli('net create')} {req.name} --driver {driver} --parent eth0 "
                               "--subnet 192.168.1.0/24 --gateway 192.168.1.1")
    for given, flag in ((req.bridge, "--bridge"), (not req.isolate, "--no-isolate"), (not req.icc, "--no-icc"),
                        (req.firewall, "--firewall"), (not req.masquerade, "--no-masquerade"),
                        (req.internal, "--internal")):
        if given:
            hint = "--mode private keeps containers apart" if flag == "--no-icc" and driver == "macvlan" else \
                "leave it out, or use --driver bridge"
            if flag == "--internal":
                raise ConfigError(f"--internal applies to bridge networks: a {driver} network is on the LAN of its "
                                  "parent", hint="for an isolated segment, give a parent that leads nowhere, such as "
                                                 "one end of a veth pair")
            raise ConfigError(f"{flag} applies to bridge networks; {driver} networks have no bridge, no NAT and no "
                              "firewall rules of cnictl's", hint=hint)
    if not req.subnets:
        raise ConfigError(f"{what} needs --subnet: the LAN's own subnet, which its router serves",
                          hint="example: --subnet 192.168.1.0/24 --gateway 192.168.1.1 --ip-range 192.168.1.192/27")
    mode = validate_mode(driver, req.mode)
    parent, trunk, vlan = split_vlan_parent(req.parent, req.vlan)
    links = {link["ifname"]: link for link in host.nl().links()}
    by_index = {link["index"]: link for link in links.values()}
    notices: list[str] = []
    top = links.get(trunk)
    if top is None:
        raise NotFoundError(f"parent interface {trunk} not found in this host",
                            hint="name the host interface on the LAN, such as eth0; see: ip link")
    managed_parent = False
    if vlan is not None:
        sub = links.get(parent)
        if sub is not None and sub["kind"] != "vlan":
            raise ConflictError(f"interface {parent} exists and is not a VLAN sub-interface ({sub['kind'] or 'no kind'})",
                                hint=f"name the parent and VLAN apart: --parent {trunk} --vlan {vlan}")
        sharing = [n for n in others if n.parent == parent]
        # a sub-interface cnictl made goes with the last network on it
        managed_parent = sharing[0].managed_parent if sharing else sub is None
    link = links.get(parent, top)
    master = by_index.get(link["master"]) if link["master"] else None
    if master is not None or link["slave_kind"]:
        kind = (master or {}).get("kind") or link["slave_kind"] or "master"
        mname = (master or {}).get("ifname", "its master")
        raise ConflictError(
            f"parent {parent} is a port of {kind} {mname}: the kernel lets no {driver} link hang off a {kind} port",
            hint=f"use the {kind} itself: --parent {mname}; or take {parent} out of {mname}",
        )
    if link["kind"] in ("macvlan", "ipvlan"):
        lower = by_index.get(link["link"], {}).get("ifname", "its parent")
        raise ConflictError(f"parent {parent} is itself a {link['kind']} link (mode {link['mode']}) on {lower}",
                            hint=f"use --parent {lower}")
    if driver == "macvlan" and host.netns is None and trunk in links and (
            os.path.exists(f"/sys/class/net/{trunk}/wireless") or os.path.exists(f"/sys/class/net/{trunk}/phy80211")):
        raise ConfigError(
            f"parent {trunk} is a Wi-Fi interface: access points drop frames from MAC addresses that did not "
            "associate with them, so macvlan containers would get no traffic",
            hint="use a wired parent, --driver ipvlan (one MAC), or a bridge network with NAT",
        )
    # who else hangs off this parent: cnictl's networks, and child links visible in the host
    for other in others:
        if other.parent != parent:
            continue
        if other.driver != driver:
            raise ConflictError(f"parent {parent} already carries {other.driver} network \"{other.name}\": macvlan and "
                                "ipvlan cannot share a parent", hint="use another parent or the same driver")
        if other.mode != mode or mode == "passthru":
            why = "passthru gives one container the whole parent" if "passthru" in (mode, other.mode) else \
                f"cnictl keeps one mode per parent, since {driver} links of different modes do not reach each other"
            hint = "use another parent" if "passthru" in (mode, other.mode) else f"use --mode {other.mode}, or another parent"
            raise ConflictError(f"parent {parent} already carries {driver} network \"{other.name}\" in mode "
                                f"{other.mode}: {why}", hint=hint)
    for child in links.values():
        if child["link"] != link["index"] or child["link_netns"] is not None or child["kind"] not in ("macvlan", "ipvlan"):
            continue
        if child["kind"] != driver:
            raise ConflictError(f"parent {parent} already carries {child['kind']} link {child['ifname']}: macvlan and "
                                "ipvlan cannot share a parent", hint=f"see: ip -d link show {child['ifname']}")
        if mode == "passthru" or child["mode"] == "passthru" or child["mode"] != mode:
            raise ConflictError(f"parent {parent} already carries {driver} link {child['ifname']} in mode "
                                f"{child['mode']}; a network in mode {mode} cannot share it",
                                hint=f"use --mode {child['mode']}, another parent, or remove {child['ifname']}")
    parent_mtu = link["mtu"] if parent in links else top["mtu"]
    validate_mtu(req.mtu, ipv6=any(s.network.version == 6 for s in specs))
    if req.mtu and parent_mtu and req.mtu > parent_mtu:
        raise ConfigError(f"--mtu {req.mtu} is above the MTU of parent {parent} ({parent_mtu}): a {driver} link "
                          "cannot be larger than its parent",
                          hint=f"use --mtu {parent_mtu} or less, or raise the parent's: ip link set {parent} mtu {req.mtu}")
    shim = None
    if req.host_access:
        if mode in ("private", "passthru"):
            raise ConfigError(f"--host-access needs mode bridge or vepa: in mode {mode} no other link on {parent} "
                              "can reach the containers", hint="use --mode bridge, the default")
        shim = shim_ifname(req.name)
        if shim in links:
            raise ConflictError(f"interface {shim} (the host-access link of \"{req.name}\") already exists",
                                hint=f"remove it: ip link del {shim}")
    if not any(s.ip_range for s in specs):
        notices.append(f"no --ip-range: containers take addresses from all of {specs[0].subnet}, which other machines "
                       "on the LAN (and this host) may use; give --ip-range, a block no DHCP server hands out")
    if not link["up"] and parent in links:
        notices.append(f"parent {parent} is down: containers get no traffic until it is up (ip link set {parent} up)")
    net = Network(
        name=req.name, driver=driver, bridge="", subnets=specs, mtu=req.mtu, internal=req.internal,
        masquerade=False, managed_bridge=False, labels=dict(req.labels), created=created, firewall="none",
        parent=parent, mode=mode, vlan=vlan, vlan_parent=trunk if vlan is not None else None,
        managed_parent=managed_parent, host_access=bool(req.host_access), shim=shim,
    )
    return net, notices


class ShimAddresses(Step):
    """The shim's reserved addresses, as host addresses (/32, /128): no subnet route that would compete with
    the parent's own route to the LAN."""

    def __init__(self, net: Network, reserve: ReserveIP) -> None:
        self.net, self.reserve = net, reserve
        self.summary = f"give {net.shim} its addresses"

    def _cidrs(self) -> list[str]:
        return [f"{lease.ip}/{lease.ip.max_prefixlen}" for lease in self.reserve.leases]

    def apply(self, host: Host) -> None:
        nl = host.nl()
        for cidr in self._cidrs():
            nl.add_addr(str(self.net.shim), cidr, nodad=":" in cidr)
        self.net.shim_addresses = self._cidrs()

    def undo(self, host: Host) -> None:
        self.net.shim_addresses = []  # the addresses go with the link

    def explain(self, host: Host) -> list[str]:
        return [f"{host.ip_cmd()} addr add {c} dev {self.net.shim}" for c in self._cidrs()] or [
            f"{host.ip_cmd()} addr add ADDRESS/32 dev {self.net.shim}   # the first free address of the range"]


class MacvlanDriver:
    """macvlan (kind "macvlan") and ipvlan (kind "ipvlan") networks."""

    def __init__(self, kind: str = "macvlan") -> None:
        self.kind = kind

    def plan_create(self, host: Host, net: Network, peers: tuple[str, ...] = ()) -> Plan:
        from cnictl.ipam.hostlocal import HostLocalStore
        from cnictl.steps import ReserveIP

        plan = Plan()
        parent = str(net.parent)
        if net.vlan is not None and net.managed_parent and not _shared(host, net):
            plan.add(AddVlan(parent, str(net.vlan_parent), net.vlan))
        if not net.host_access:
            plan.add(ProbeChild(self.kind, parent, net.mode, "cnp" + os.urandom(5).hex()))
            return plan
        shim = str(net.shim)
        ipam = HostLocalStore(host.paths.ipam_root / net.name)
        reserve = ReserveIP(ipam, _ranges(net), HOST_ACCESS_ID, shim, [], [])
        plan.add(reserve)
        plan.add(AddChild(self.kind, parent, shim, None, mode=net.mode,
                          mac=random_mac() if self.kind == "macvlan" else None, mtu=net.mtu))
        if not net.has_ipv6:
            plan.add(WriteSysctl(f"net.ipv6.conf.{shim}.disable_ipv6", "1", optional=True, restore=False))
        plan.add(ShimAddresses(net, reserve))
        from cnictl.netlink.steps import SetUp

        plan.add(SetUp(shim))
        return plan

    def plan_delete(self, host: Host, net: Network, peers: tuple[str, ...] = ()) -> Plan:
        plan = Plan()
        if net.shim:
            from cnictl.ipam.hostlocal import HostLocalStore

            ipam = HostLocalStore(host.paths.ipam_root / net.name)
            shim = net.shim
            plan.add(DelChild(shim, None, kind=self.kind))
            plan.add(Call(f"release the addresses of {shim}", lambda h: ipam.release(HOST_ACCESS_ID, shim),
                          explain=lambda h: [f"# IPAM: remove the files in {ipam.directory} holding "
                                             f"'{HOST_ACCESS_ID}\\r\\n{shim}'"]))
        if net.vlan is not None and net.managed_parent and not _shared(host, net):
            plan.add(DelChild(str(net.parent), None, kind="vlan"))
        return plan

    def plan_attach(
        self, host: Host, net: Network, att: Attachment, ref: NetnsRef, reserve: ReserveIP, store: HostLocalStore
    ) -> Plan:
        plan = Plan([reserve])
        child = AddChild(self.kind, str(net.parent), att.ifname, ref, mode=net.mode, mac=att.mac or None, mtu=net.mtu)
        plan.add(child)
        if not net.has_ipv6:
            plan.add(WriteSysctl(f"net.ipv6.conf.{att.ifname}.disable_ipv6", "1", optional=True, restore=False, netns=ref))
        gateways = [] if net.internal else [s.gateway for s in net.subnets]
        plan.add(ConfigureInterface(child, reserve, att.ifname, ref, gateways))
        if net.shim:
            plan.add(HostRoutes(net.shim, lambda: [lease.cidr for lease in reserve.leases]))
        return plan

    def plan_detach(self, host: Host, net: Network, att: Attachment) -> Plan:
        from cnictl.netns import NetnsRef

        plan = Plan()
        if net.shim and att.addresses:
            plan.add(HostRoutes(net.shim, lambda: list(att.addresses), add=False))
        plan.add(DelChild(att.ifname, NetnsRef.parse(att.netns), kind=self.kind))
        return plan


def _ranges(net: Network) -> list[Any]:
    from cnictl.ipam.allocator import Range

    return [Range.build(s.subnet, s.gateway, s.ip_range) for s in net.subnets]


def _shared(host: Host, net: Network) -> bool:
    """Another network of this host uses the same VLAN sub-interface."""
    from cnictl.store import Store

    return any(n.name != net.name and n.parent == net.parent for n in Store(host.paths).networks())

