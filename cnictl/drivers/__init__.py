"""Network drivers: the one registry of them, `get_driver(name)`, and the options they declare.

A driver is one module of this package with a `NetworkDriver` (cnictl.drivers.base) and one entry in
`_REGISTRY` naming it as "module:class". The module is imported the first time a network of that driver
is used (a plain `ls` of networks of one driver never loads the others), so the registry imports nothing.

Adding a driver (a VXLAN one, say), in cnictl/drivers/vxlan.py:

    @record
    class VxlanOptions:                      # Network.options of its networks (stored flat, beside the
        vni: int = 0                         # common fields; see cnictl.model.Network)
        bridge: str = ""

    class VxlanDriver(NetworkDriver):
        name = kind = "vxlan"
        options_type = VxlanOptions
        request_options = (Option("vni", "--vni", int, None, "vni"),)   # flag, CNI key, default
        def validate(self, host, req, ctx): ...      # -> (Network(..., options=VxlanOptions(...)), notices)
        def plan_create(self, host, net, fw): ...    # fw: FirewallContext; and plan_delete/plan_attach/plan_detach
        # then override the answers it has: host_link, firewall, publishes_ports, cni_plugin, ...

plus its netlink steps in cnictl/netlink/ and `"vxlan": "cnictl.drivers.vxlan:VxlanDriver"` below. The CNI
plugin's inline keys and `--exist-ok` pick its options up from `request_options`; `net create` needs its
flags added (typer declares options statically) and passes them in `NetworkRequest.options`.

    >>> get_driver("bridge").kind
    'bridge'
    >>> names()
    ('bridge', 'macvlan', 'ipvlan')
    >>> option("parent").flag, owners("parent")
    ('--parent', ['macvlan', 'ipvlan'])
"""

from __future__ import annotations

from cnictl.errors import ConfigError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from cnictl.drivers.base import NetworkDriver, Option
    from cnictl.model import Network

_REGISTRY = {
    "bridge": "cnictl.drivers.bridge:BridgeDriver",
    "macvlan": "cnictl.drivers.macvlan:MacvlanDriver",
    "ipvlan": "cnictl.drivers.macvlan:IpvlanDriver",
}
_loaded: dict[str, NetworkDriver] = {}


def names() -> tuple[str, ...]:
    """Every driver's name, the default (bridge) first."""
    return tuple(_REGISTRY)


def names_text() -> str:
    """'bridge, macvlan or ipvlan' (for help texts)."""
    *head, last = names()
    return f"{', '.join(head)} or {last}" if head else last


def get_driver(name: str) -> NetworkDriver:
    driver = _loaded.get(name)
    if driver is not None:
        return driver
    spec = _REGISTRY.get(name)
    if spec is None:
        raise ConfigError(f'unknown driver "{name}" (choose one of: {", ".join(names())})')
    module, _, cls = spec.partition(":")
    driver = _loaded[name] = getattr(__import__(module, fromlist=(cls,)), cls)()  # = importlib.import_module(module)
    return driver


def all_drivers() -> list[NetworkDriver]:
    return [get_driver(n) for n in names()]


def host_link_kinds() -> set[str]:
    """The kernel link kinds of the networks' own host links (a bridge), over every driver."""
    return {k for d in all_drivers() for k in d.host_link_kinds}


def host_link_prefixes() -> tuple[str, ...]:
    """The name prefixes of the other host links drivers make (macvlan's host-access shims), each once."""
    return tuple(dict.fromkeys(p for d in all_drivers() for p in d.host_link_prefixes))


def ipam_owners() -> tuple[str, ...]:
    """The container ids (as prefixes) of the IPAM reservations drivers hold themselves, each once."""
    return tuple(dict.fromkeys(o for d in all_drivers() for o in d.ipam_owners))


def host_links(networks: list[Network]) -> set[str]:
    """The host links (bridges) of *networks*."""
    return {link for n in networks if (link := get_driver(n.driver).host_link(n))}


def find_option(name: str) -> Option | None:
    """The declaration of the request option *name* (the first driver declaring it), or None."""
    for driver in all_drivers():
        for opt in driver.request_options:
            if opt.name == name:
                return opt
    return None


def option(name: str) -> Option:
    opt = find_option(name)
    if opt is None:
        raise KeyError(name)
    return opt


def owners(name: str) -> list[str]:
    """The drivers that take the request option *name*."""
    return [d.name for d in all_drivers() if any(o.name == name for o in d.request_options)]


def request_options() -> list[Option]:
    """Every driver's request options, each name once (in registry order)."""
    seen: dict[str, Option] = {}
    for driver in all_drivers():
        for opt in driver.request_options:
            seen.setdefault(opt.name, opt)
    return list(seen.values())
