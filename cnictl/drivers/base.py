"""What a network driver is: the options it declares, `validate` (a request into a `Network`, nothing changed
yet), plans for create/attach/detach/delete (plans never touch the kernel), and the answers to every question
the rest of cnictl asks about a network of that driver.

Validate first, then plan, then apply (netavark's validate-then-setup): `validate` reads the host and the
other networks, raises on what cannot work and returns the network with notices; the plans it leads to
only run.

`NetworkDriver` is the protocol as a base class: each answer defaults to that of a driver without the
capability (no ports to publish, no host-side link, no firewall rules, nothing in a reference conflist),
so a new driver overrides what it has. It imports nothing heavy: a driver module is loaded on the attach
and plugin path.

    >>> Option("parent", "--parent", str, cni_key="parent").default is None
    True
"""

from __future__ import annotations

from cnictl.errors import ConfigError, UnsupportedFieldError, cli
from cnictl.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from cnictl.firewall.base import FirewallBackend, NetworkFirewall
    from cnictl.host import Host
    from cnictl.ipam.hostlocal import HostLocalStore
    from cnictl.ipam.steps import ReserveIP
    from cnictl.model import Attachment, Network, NetworkRequest, SubnetSpec
    from cnictl.netns import NetnsRef
    from cnictl.plan import Plan
    from cnictl.store import Store


@record(frozen=True)
class Option:
    """One setting a driver takes in a request, declared once: the `NetworkRequest.options` key and the
    attribute of the driver's options record it lands in (*name*), the `net create` flag that asks for
    a value other than the default (*flag*: "--no-isolate" for isolate=False), the key of an inline CNI
    configuration (*cni_key*), the value's type, its default, and whether `--exist-ok` and the CNI plugin
    compare it with an existing network (*compared*)."""

    name: str
    flag: str
    type: type
    default: Any = None
    cni_key: str = ""
    compared: bool = True


@record(frozen=True)
class CreateContext:
    """What `net create` found before asking the driver: the subnets (validated, with gateways), the
    other networks, the firewall backend named, and the creation time."""

    specs: list[SubnetSpec]
    others: list[Network]
    firewall: str
    created: str


@record(frozen=True)
class FirewallContext:
    """What `plan_create`/`plan_delete` are handed for the network's firewall, built by the use case (never
    looked up by the driver): the backend (`cnictl.firewall.get_backend(net.firewall)`), the links of the other
    --no-isolate networks on it (their `peer_link`), and whether no other recorded network has rules in that
    backend (*last*: a teardown then takes the backend's shared objects with it, and explains so without
    asking the kernel)."""

    backend: FirewallBackend
    peers: tuple[str, ...] = ()
    last: bool = False


class NetworkDriver:
    name = ""  # the --driver value and the registry key
    kind = ""  # the kernel link kind of the containers' links (doctor probes it; CNI STATUS)
    host_link_kinds: tuple[str, ...] = ()  # kernel link kinds of host_link() (doctor's leftover scan)
    host_link_prefixes: tuple[str, ...] = ()  # name prefixes of other host links it makes (doctor's leftover scan)
    ipam_owners: tuple[str, ...] = ()  # container ids (prefixes) of IPAM reservations it holds itself: no leftovers
    options_type: Any = None  # the @record class of Network.options
    request_options: tuple[Option, ...] = ()
    picks_subnet = False  # without --subnet: a free /24 of the default pool (else --subnet is required)
    publishes_ports = False  # -p / --publish (DNAT to the container through the host)

    # ---- net create -------------------------------------------------------------------------
    def validate(self, host: Host, req: NetworkRequest, ctx: CreateContext) -> tuple[Network, list[str]]:
        """Check *req* against the host and the other networks (nothing is changed) and return the network
        with notices for the user."""
        raise NotImplementedError

    def foreign_options(self, req: NetworkRequest) -> None:
        """Refuse options of other drivers that *req* asks for."""
        own = {o.name for o in self.request_options}
        from cnictl import drivers

        for opt in drivers.request_options():
            if opt.name not in own and req.asked(opt.name):
                owners = drivers.owners(opt.name)
                raise ConfigError(f"{opt.flag} applies to {' and '.join(owners)} networks, not to {self.name} networks",
                                  hint=f"add --driver {owners[0]}, or leave it out")

    def compare(self, net: Network, req: NetworkRequest, name: str) -> tuple[bool, Any, Any]:
        """(same, what the network has, what is asked) for the option *name* (`--exist-ok`)."""
        have = getattr(net.options, name, None)
        want = req.option(name)
        return want == have, have, want

    def overlap_note(self, net: Network, other: Network) -> str:
        """What to add to "subnet X overlaps Y of network OTHER" (" on the same parent eth0")."""
        return ""

    # ---- plans --------------------------------------------------------------------------------
    def plan_create(self, host: Host, net: Network, fw: FirewallContext) -> Plan:
        raise NotImplementedError

    def plan_delete(self, host: Host, net: Network, fw: FirewallContext) -> Plan:
        raise NotImplementedError

    def plan_attach(
        self, host: Host, net: Network, att: Attachment, ref: NetnsRef, reserve: ReserveIP, store: HostLocalStore
    ) -> Plan:
        raise NotImplementedError

    def plan_detach(self, host: Host, net: Network, att: Attachment) -> Plan:
        raise NotImplementedError

    # ---- attachments ----------------------------------------------------------------------
    def check_attach(self, net: Network, mac: str | None, store: Store) -> str | None:
        """Refuse an attachment the network cannot take (*store*: its other attachments); the MAC to give it
        (None: a random one, "": the kernel's choice)."""
        return mac

    def host_ifname(self, net: Network, netns_key: str, ifname: str) -> str:
        """The host-side link of an attachment (a veth end), named so detach finds it without state; "": none."""
        return ""

    def check_publish(self, net: Network) -> None:
        """Refuse published ports on a network that cannot have them."""
        if not self.publishes_ports:
            raise ConfigError(f'network "{net.name}" is {net.driver}: cnictl publishes no ports on it',
                              hint=f"reach the container at its own address, shown by {cli('net inspect ' + net.name)}")

    def host_reservations(self, net: Network) -> dict[tuple[str, str], str]:
        """IPAM reservations the network itself holds, (container id, ifname) -> who (never leftovers)."""
        return {}

    # ---- the host side --------------------------------------------------------------------
    def host_link(self, net: Network) -> str | None:
        """The network's own link in the host that attachments hang off and rules name (a bridge), or None."""
        return None

    def required_link(self, net: Network) -> str | None:
        """The host interface the network cannot work without (CNI STATUS checks it is there)."""
        return self.host_link(net)

    def firewall(self, net: Network, peers: tuple[str, ...] = ()) -> NetworkFirewall | None:
        """The firewall intent of the network (None: cnictl has no rules for it)."""
        return None

    def peer_link(self, net: Network) -> str | None:
        """The link other --no-isolate networks let in when this one is --no-isolate too (None: not open)."""
        return None

    def needs_forwarding(self, net: Network) -> bool:
        """Containers reach the outside through this host's routing (IP forwarding must be on)."""
        return False

    def bridged_without_icc(self, net: Network) -> bool:
        """Containers are kept apart on a bridge (br_netfilter's bridge-nf-call-iptables breaks that)."""
        return False

    # ---- what users see --------------------------------------------------------------------
    def link_label(self, net: Network) -> str:
        """The LINK column of `net ls`: what the network's interfaces hang off."""
        return ""

    def describe(self, net: Network) -> str:
        """The tail of "created network NAME (driver, subnets, ...)"."""
        return self.link_label(net)

    def inspect_fields(self) -> list[tuple[str, str]]:
        """(key of `net inspect --json`, label) of the driver's part of `net inspect`, in order."""
        return []

    def cni_plugin(self, net: Network) -> dict[str, Any]:
        """The reference plugin of `cni emit` that makes the containers' links (ipam is added by the caller);
        raises UnsupportedFieldError for what no reference plugin expresses."""
        raise UnsupportedFieldError(f'network "{net.name}" ({net.driver}) has no reference CNI plugin',
                                    hint=f"emit the cnictl flavour instead: cnictl cni emit {net.name} --plugin cnictl")
