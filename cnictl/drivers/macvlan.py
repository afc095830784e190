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

from cnictl.drivers.base import NetworkDriver, Option
from cnictl.errors import CnictlError, ConfigError, ConflictError, NotFoundError, UnsupportedFieldError, cli
from cnictl.model import IFNAMSIZ, Network, random_mac, short_hash, validate_ifname
from cnictl.plan import Plan, Step
from cnictl.record import field, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from cnictl.drivers.base import CreateContext, FirewallContext
    from cnictl.host import Host
    from cnictl.ipam.hostlocal import HostLocalStore
    from cnictl.ipam.steps import ReserveIP
    from cnictl.model import Attachment, NetworkRequest
    from cnictl.netns import NetnsRef
    from cnictl.store import Store

HOST_ACCESS_ID = "cnictl-host-access"  # the container id of the shim's IPAM reservations
SHIM_PREFIX = "mvh-"  # the host-access shim links' names
MACVLAN_MODES = ("bridge", "vepa", "private", "passthru")
IPVLAN_MODES = ("l2", "l3", "l3s")


@record
class MacvlanOptions:
    """A macvlan/ipvlan network's own settings: the link the containers' interfaces hang off (a VLAN
    sub-interface when vlan is set), its trunk (vlan_parent), the mode, whether cnictl created the
    sub-interface (managed_parent), and the host-access shim with its addresses."""

    parent: str = ""
    mode: str = ""
    vlan: int | None = None
    vlan_parent: str | None = None
    managed_parent: bool = False
    host_access: bool = False
    shim: str | None = None
    shim_addresses: list[str] = field(default_factory=list)


def options(net: Network) -> MacvlanOptions:
    opts = net.options
    if not isinstance(opts, MacvlanOptions):
        raise TypeError(f'network "{net.name}" is {net.driver}, not a macvlan or ipvlan network')
    return opts


def validate_vlan(vlan: int | None) -> int | None:
    if vlan is not None and not 1 <= vlan <= 4094:
        raise ConfigError(f"bad VLAN ID {vlan}: use 1-4094 (0 and 4095 are reserved by 802.1Q)")
    return vlan


def split_vlan_parent(parent: str, vlan: int | None) -> tuple[str, str, int | None]:
    """(link the children hang off, trunk interface, VLAN id) from --parent and --vlan.

        >>> split_vlan_parent("eth0.10", None)
        ('eth0.10', 'eth0', 10)
        >>> split_vlan_parent("eth0", 20)
        ('eth0.20', 'eth0', 20)
        >>> split_vlan_parent("eth0", None)
        ('eth0', 'eth0', None)
    """
    validate_ifname(parent, "parent interface")
    base, dot, tail = parent.rpartition(".")
    if dot and base and tail.isdigit():  # docker's convention: a dotted parent names a VLAN sub-interface
        tag = validate_vlan(int(tail))
        if vlan is not None and vlan != tag:
            raise ConfigError(f"--parent {parent} names VLAN {tag} but --vlan is {vlan}",
                              hint=f"give one of them: --parent {base} --vlan {vlan}, or --parent {parent}")
        return parent, base, tag
    if vlan is None:
        return parent, parent, None
    validate_vlan(vlan)
    name = f"{parent}.{vlan}"
    if len(name.encode()) > IFNAMSIZ - 1:
        name = f"vl{vlan}-{short_hash(parent, length=15 - len(str(vlan)) - 3)}"
    return name, parent, vlan


def shim_ifname(network: str) -> str:
    """The host-side macvlan/ipvlan link of a --host-access network (prefix mvh-).

        >>> shim_ifname("lan")
        'mvh-lan'
    """
    name = f"{SHIM_PREFIX}{network}"
    return name if len(name.encode()) <= IFNAMSIZ - 1 else SHIM_PREFIX + short_hash(network, length=11)


class ShimAddresses(Step):
    """The shim's reserved addresses, as host addresses (/32, /128): no subnet route that would compete with
    the parent's own route to the LAN."""

    journaled = False  # the addresses go with the shim link (AddChild's undo)

    def __init__(self, net: Network, reserve: ReserveIP) -> None:
        self.opts, self.reserve = options(net), reserve
        self.summary = f"give {self.opts.shim} its addresses"

    def _cidrs(self) -> list[str]:
        return [f"{lease.ip}/{lease.ip.max_prefixlen}" for lease in self.reserve.leases]

    def apply(self, host: Host) -> None:
        nl = host.nl()
        for cidr in self._cidrs():
            nl.add_addr(str(self.opts.shim), cidr, nodad=":" in cidr)
        self.opts.shim_addresses = self._cidrs()

    def undo(self, host: Host) -> None:
        self.opts.shim_addresses = []  # the addresses go with the link

    def explain(self, host: Host) -> list[str]:
        return [f"{host.ip_cmd()} addr add {c} dev {self.opts.shim}" for c in self._cidrs()] or [
            f"{host.ip_cmd()} addr add ADDRESS/32 dev {self.opts.shim}   # the first free address of the range"]


class MacvlanDriver(NetworkDriver):
    """macvlan networks (kernel link kind "macvlan"); `IpvlanDriver` is the same with the parent's MAC."""

    name = kind = "macvlan"
    modes: tuple[str, ...] = MACVLAN_MODES
    host_link_prefixes = (SHIM_PREFIX,)  # the --host-access shim
    ipam_owners = (HOST_ACCESS_ID,)  # the shim's addresses
    options_type = MacvlanOptions
    request_options = (
        Option("parent", "--parent", str, None, "parent"),
        Option("mode", "--mode", str, None, "mode"),
        Option("vlan", "--vlan", int, None, "vlan"),
        Option("host_access", "--host-access", bool, False, "hostAccess"),
    )

    # ---- net create -------------------------------------------------------------------------
    def _refuse_bridge_options(self, req: NetworkRequest) -> None:
        from cnictl import drivers

        own = {o.name for o in self.request_options}
        asked = [o.flag for o in drivers.request_options() if o.name not in own and req.asked(o.name)]
        driver = self.name
        for flag in [*asked, *(["--firewall"] if req.firewall else []), *(["--internal"] if req.internal else [])]:
            if flag == "--internal":
                raise ConfigError(f"--internal applies to bridge networks: a {driver} network is on the LAN of its "
                                  "parent", hint="for an isolated segment, give a parent that leads nowhere, such as "
                                                 "one end of a veth pair")
            hint = "--mode private keeps containers apart" if flag == "--no-icc" and driver == "macvlan" else \
                "leave it out, or use --driver bridge"
            raise ConfigError(f"{flag} applies to bridge networks; {driver} networks have no bridge, no NAT and no "
                              "firewall rules of cnictl's", hint=hint)

    def _mode(self, mode: str | None) -> str:
        if mode is None:
            return self.modes[0]
        if mode not in self.modes:
            raise ConfigError(f'bad {self.name} mode "{mode}": use one of {", ".join(self.modes)}')
        return mode

    def validate(self, host: Host, req: NetworkRequest, ctx: CreateContext) -> tuple[Network, list[str]]:
        """Check a macvlan/ipvlan request against the host (nothing is changed): the parent, its VLAN, who
        else hangs off it, the MTU and the host-access shim."""
        driver = self.name
        what = f"--driver {driver}"
        if not req.option("parent"):
            raise ConfigError(f"{what} needs --parent IFNAME: the host interface on the LAN the containers join",
                              hint=f"example: {cli('net create')} {req.name} --driver {driver} --parent eth0 "
                                   "--subnet 192.168.1.0/24 --gateway 192.168.1.1")
        self._refuse_bridge_options(req)
        specs = ctx.specs
        if not req.subnets:
            raise ConfigError(f"{what} needs --subnet: the LAN's own subnet, which its router serves",
                              hint="example: --subnet 192.168.1.0/24 --gateway 192.168.1.1 --ip-range 192.168.1.192/27")
        mode = self._mode(req.option("mode"))
        parent, trunk, vlan = split_vlan_parent(req.option("parent"), req.option("vlan"))
        links = {link["ifname"]: link for link in host.nl().links()}
        by_index = {link["index"]: link for link in links.values()}
        notices: list[str] = []
        top = links.get(trunk)
        if top is None:
            raise NotFoundError(f"parent interface {trunk} not found in this host",
                                hint="name the host interface on the LAN, such as eth0; see: ip link")
        mine = [(o, options(o)) for o in ctx.others if isinstance(o.options, MacvlanOptions)]
        managed_parent = False
        if vlan is not None:
            sub = links.get(parent)
            if sub is not None and sub["kind"] != "vlan":
                raise ConflictError(f"interface {parent} exists and is not a VLAN sub-interface "
                                    f"({sub['kind'] or 'no kind'})",
                                    hint=f"name the parent and VLAN apart: --parent {trunk} --vlan {vlan}")
            sharing = [o for _, o in mine if o.parent == parent]
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
        for other, o in mine:
            if o.parent != parent:
                continue
            if other.driver != driver:
                raise ConflictError(f"parent {parent} already carries {other.driver} network \"{other.name}\": macvlan "
                                    "and ipvlan cannot share a parent", hint="use another parent or the same driver")
            if o.mode != mode or mode == "passthru":
                why = "passthru gives one container the whole parent" if "passthru" in (mode, o.mode) else \
                    f"cnictl keeps one mode per parent, since {driver} links of different modes do not reach each other"
                hint = "use another parent" if "passthru" in (mode, o.mode) else f"use --mode {o.mode}, or another parent"
                raise ConflictError(f"parent {parent} already carries {driver} network \"{other.name}\" in mode "
                                    f"{o.mode}: {why}", hint=hint)
        for child in links.values():
            if child["link"] != link["index"] or child["link_netns"] is not None \
                    or child["kind"] not in ("macvlan", "ipvlan"):
                continue
            if child["kind"] != driver:
                raise ConflictError(f"parent {parent} already carries {child['kind']} link {child['ifname']}: macvlan and "
                                    "ipvlan cannot share a parent", hint=f"see: ip -d link show {child['ifname']}")
            if mode == "passthru" or child["mode"] == "passthru" or child["mode"] != mode:
                raise ConflictError(f"parent {parent} already carries {driver} link {child['ifname']} in mode "
                                    f"{child['mode']}; a network in mode {mode} cannot share it",
                                    hint=f"use --mode {child['mode']}, another parent, or remove {child['ifname']}")
        parent_mtu = link["mtu"] if parent in links else top["mtu"]
        if req.mtu and parent_mtu and req.mtu > parent_mtu:
            raise ConfigError(f"--mtu {req.mtu} is above the MTU of parent {parent} ({parent_mtu}): a {driver} link "
                              "cannot be larger than its parent",
                              hint=f"use --mtu {parent_mtu} or less, or raise the parent's: ip link set {parent} mtu {req.mtu}")
        shim = None
        host_access = bool(req.option("host_access"))
        if host_access:
            if mode in ("private", "passthru"):
                raise ConfigError(f"--host-access needs mode bridge or vepa: in mode {mode} no other link on {parent} "
                                  "can reach the containers", hint="use --mode bridge, the default")
            shim = shim_ifname(req.name)
            if shim in links:
                raise ConflictError(f"interface {shim} (the host-access link of \"{req.name}\") already exists",
                                    hint=f"remove it: ip link del {shim}")
        if not any(s.ip_range for s in specs):
            notices.append(f"no --ip-range: containers take addresses from all of {specs[0].subnet}, which other "
                           "machines on the LAN (and this host) may use; give --ip-range, a block no DHCP server "
                           "hands out")
        if not link["up"] and parent in links:
            notices.append(f"parent {parent} is down: containers get no traffic until it is up (ip link set {parent} up)")
        opts = MacvlanOptions(parent=parent, mode=mode, vlan=vlan, vlan_parent=trunk if vlan is not None else None,
                              managed_parent=managed_parent, host_access=host_access, shim=shim)
        net = Network(name=req.name, driver=driver, subnets=specs, mtu=req.mtu, internal=req.internal,
                      labels=dict(req.labels), created=ctx.created, firewall="none", options=opts)
        return net, notices

    def compare(self, net: Network, req: NetworkRequest, name: str) -> tuple[bool, Any, Any]:
        same, have, want = super().compare(net, req, name)
        if name == "parent" and want is not None:
            o = options(net)
            vlan = req.option("vlan")
            try:
                same = split_vlan_parent(want, vlan if vlan is not None else o.vlan)[0] == o.parent
            except CnictlError:
                same = False
        return same, have, want

    def overlap_note(self, net: Network, other: Network) -> str:
        o = options(net)
        if isinstance(other.options, MacvlanOptions) and other.options.parent == o.parent:
            return f" on the same parent {o.parent}"
        return ""

    # ---- plans --------------------------------------------------------------------------------
    def plan_create(self, host: Host, net: Network, fw: FirewallContext) -> Plan:
        from cnictl.ipam.hostlocal import HostLocalStore
        from cnictl.ipam.steps import ReserveIP
        from cnictl.netlink.child_steps import AddChild, AddVlan, ProbeChild
        from cnictl.netlink.steps import SetUp
        from cnictl.sysctl import WriteSysctl

        o = options(net)
        plan = Plan()
        if o.vlan is not None and o.managed_parent and not _shared(host, net):
            plan.add(AddVlan(o.parent, str(o.vlan_parent), o.vlan))
        if not o.host_access:
            plan.add(ProbeChild(self.kind, o.parent, o.mode, "cnp" + os.urandom(5).hex()))
            return plan
        shim = str(o.shim)
        ipam = HostLocalStore(host.paths.ipam_root / net.name)
        reserve = ReserveIP(ipam, _ranges(net), HOST_ACCESS_ID, shim, [], [])
        plan.add(reserve)
        plan.add(AddChild(self.kind, o.parent, shim, None, mode=o.mode,
                          mac=random_mac() if self.kind == "macvlan" else None, mtu=net.mtu))
        if not net.has_ipv6:
            plan.add(WriteSysctl(f"net.ipv6.conf.{shim}.disable_ipv6", "1", optional=True, restore=False))
        plan.add(ShimAddresses(net, reserve))
        plan.add(SetUp(shim))
        return plan

    def plan_delete(self, host: Host, net: Network, fw: FirewallContext) -> Plan:
        from cnictl.netlink.child_steps import DelChild

        o = options(net)
        plan = Plan()
        if o.shim:
            from cnictl.ipam.hostlocal import HostLocalStore
            from cnictl.ipam.steps import ReleaseAddresses

            ipam = HostLocalStore(host.paths.ipam_root / net.name)
            shim = o.shim
            plan.add(DelChild(shim, None, kind=self.kind))
            plan.add(ReleaseAddresses(ipam, HOST_ACCESS_ID, shim))
        if o.vlan is not None and o.managed_parent and not _shared(host, net):
            plan.add(DelChild(o.parent, None, kind="vlan"))
        return plan

    def plan_attach(
        self, host: Host, net: Network, att: Attachment, ref: NetnsRef, reserve: ReserveIP, store: HostLocalStore
    ) -> Plan:
        from cnictl.netlink.child_steps import AddChild, HostRoutes
        from cnictl.netlink.steps import ConfigureInterface
        from cnictl.sysctl import WriteSysctl

        o = options(net)
        plan = Plan([reserve])
        child = AddChild(self.kind, o.parent, att.ifname, ref, mode=o.mode, mac=att.mac or None, mtu=net.mtu)
        plan.add(child)
        if not net.has_ipv6:
            plan.add(WriteSysctl(f"net.ipv6.conf.{att.ifname}.disable_ipv6", "1", optional=True, restore=False, netns=ref))
        gateways = [] if net.internal else [s.gateway for s in net.subnets]
        plan.add(ConfigureInterface(child, reserve, att.ifname, ref, gateways))
        if o.shim:
            plan.add(HostRoutes(o.shim, lambda: [lease.cidr for lease in reserve.leases]))
        return plan

    def plan_detach(self, host: Host, net: Network, att: Attachment) -> Plan:
        from cnictl.netlink.child_steps import DelChild, HostRoutes
        from cnictl.netns import NetnsRef

        o = options(net)
        plan = Plan()
        if o.shim and att.addresses:
            plan.add(HostRoutes(o.shim, lambda: list(att.addresses), add=False))
        plan.add(DelChild(att.ifname, NetnsRef.parse(att.netns), kind=self.kind))
        return plan

    # ---- attachments and the host side --------------------------------------------------
    def check_attach(self, net: Network, mac: str | None, store: Store) -> str | None:
        o = options(net)
        if self.kind == "ipvlan" or o.mode == "passthru":
            if mac is not None:
                raise ConfigError(f"--mac does not apply to {net.driver} {o.mode} network \"{net.name}\": its links "
                                  f"carry the MAC address of the parent {o.parent}", hint="leave --mac out")
            mac = ""
        if o.mode == "passthru" and store.count_attachments(net.name):
            who = ", ".join(f"{a.netns}/{a.ifname}" for a in store.attachments(net.name))
            raise ConflictError(f'network "{net.name}" is macvlan passthru: its parent {o.parent} serves one '
                                f"container, and {who} has it", hint="detach it first, or use a network in mode bridge")
        return mac

    def check_publish(self, net: Network) -> None:
        raise ConfigError(
            f'network "{net.name}" is {net.driver}: its containers have their own address on the LAN of '
            f"{options(net).parent}, so there is no NAT and nothing to publish",
            hint=f"reach the container at its own address, shown by {cli('net inspect ' + net.name)}; "
                 "use a bridge network for -p",
        )

    def host_reservations(self, net: Network) -> dict[tuple[str, str], str]:
        shim = options(net).shim
        return {(HOST_ACCESS_ID, shim): f"host ({shim})"} if shim else {}

    def required_link(self, net: Network) -> str | None:
        return options(net).parent

    # ---- what users see --------------------------------------------------------------------
    def link_label(self, net: Network) -> str:
        o = options(net)
        return f"{o.parent} ({o.mode})"

    def describe(self, net: Network) -> str:
        o = options(net)
        return f"mode {o.mode} on {o.parent}" + (f", host access via {o.shim}" if o.shim else "")

    def inspect_fields(self) -> list[tuple[str, str]]:
        return [("parent", "parent"), ("mode", "mode"), ("vlan", "vlan"), ("subnets", "subnets"), ("mtu", "mtu"),
                ("internal", "internal"), ("shim", "host link"), ("shim_addresses", "host addr")]

    def cni_plugin(self, net: Network) -> dict[str, Any]:
        o = options(net)
        if o.host_access:
            raise UnsupportedFieldError(
                f'network "{net.name}" has --host-access (a host route to each container through {o.shim}): no '
                "reference plugin sets such routes",
                hint=f"emit the cnictl flavour instead: cnictl cni emit {net.name} --plugin cnictl")
        return {"type": self.kind, "master": o.parent, "mode": o.mode}


class IpvlanDriver(MacvlanDriver):
    """ipvlan networks: as macvlan, but every child carries the parent's MAC address."""

    name = kind = "ipvlan"
    modes = IPVLAN_MODES


def _ranges(net: Network) -> list[Any]:
    from cnictl.ipam.allocator import Range

    return [Range.build(s.subnet, s.gateway, s.ip_range) for s in net.subnets]


def _shared(host: Host, net: Network) -> bool:
    """Another network of this host uses the same VLAN sub-interface."""
    from cnictl.store import Store

    parent = options(net).parent
    return any(n.name != net.name and isinstance(n.options, MacvlanOptions) and n.options.parent == parent
               for n in Store(host.paths).networks())

