"""What cnictl manages, as plain data: networks and attachments, with validation of names and values.

    >>> validate_ifname("eth0")
    'eth0'
    >>> default_bridge_name("lab")
    'br-lab'
"""

from __future__ import annotations

import ipaddress
import re

from cnictl.errors import ConfigError
from cnictl.record import asdict, field, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
MAC_RE = re.compile(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")
IFNAMSIZ = 16
DRIVERS = ("bridge", "macvlan", "ipvlan")
MACVLAN_MODES = ("bridge", "vepa", "private", "passthru")
IPVLAN_MODES = ("l2", "l3", "l3s")


def validate_network_name(name: str) -> str:
    if not NAME_RE.fullmatch(name) or name in (".", ".."):
        raise ConfigError(
            f'invalid network name "{name}": use 1-63 letters, digits, "_", "." or "-", '
            "starting with a letter or digit (example: lab1)"
        )
    return name


def validate_ifname(name: str, what: str = "interface name") -> str:
    if not name or len(name.encode()) > IFNAMSIZ - 1:
        raise ConfigError(f'{what} "{name}" must be 1-15 bytes long (example: eth0)')
    if name in (".", "..") or any(c in name for c in "/:%") or any(c.isspace() for c in name):
        raise ConfigError(f'{what} "{name}" may not contain "/", ":", "%" or spaces (example: eth1)')
    return name


def validate_mtu(mtu: int | None, *, ipv6: bool = False) -> int | None:
    if mtu is None:
        return None
    low = 1280 if ipv6 else 68
    if not low <= mtu <= 65535:
        raise ConfigError(f"bad MTU {mtu}: use {low}-65535 (typical: 1500)")
    return mtu


def validate_mac(mac: str | None) -> str | None:
    if mac is None:
        return None
    if not MAC_RE.fullmatch(mac) or int(mac[:2], 16) & 1 or mac.replace(":", "") == "000000000000":
        raise ConfigError(f'bad MAC address "{mac}": use a unicast address such as 02:42:ac:11:00:02')
    return mac.lower()


def validate_mode(driver: str, mode: str | None) -> str | None:
    """The link mode of a macvlan or ipvlan network (default: bridge, l2); bridge networks have none."""
    modes = {"macvlan": MACVLAN_MODES, "ipvlan": IPVLAN_MODES}.get(driver)
    if modes is None:
        if mode is not None:
            raise ConfigError(f'--mode {mode} applies to macvlan and ipvlan networks only, not to driver "{driver}"',
                              hint="leave --mode out, or use --driver macvlan")
        return None
    if mode is None:
        return modes[0]
    if mode not in modes:
        raise ConfigError(f'bad {driver} mode "{mode}": use one of {", ".join(modes)}')
    return mode


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


def random_mac() -> str:
    import os

    b = bytearray(os.urandom(6))
    b[0] = (b[0] & 0xFE) | 0x02  # unicast, locally administered
    return ":".join(f"{x:02x}" for x in b)


def sha256_hex(data: bytes) -> str:
    """SHA-256 without loading OpenSSL (hashlib costs ~2 ms of start-up; the plugin runs once per container)."""
    try:
        from _sha256 import sha256  # CPython 3.11 builtin
    except ImportError:  # pragma: no cover - other Pythons
        from hashlib import sha256
    return str(sha256(data).hexdigest())


def short_hash(*parts: str, length: int = 12) -> str:
    return sha256_hex("\0".join(parts).encode())[:length]


def default_bridge_name(network: str) -> str:
    name = f"br-{network}"
    return name if len(name.encode()) <= IFNAMSIZ - 1 else "br-" + short_hash(network)


def shim_ifname(network: str) -> str:
    """The host-side macvlan/ipvlan link of a --host-access network (prefix mvh-)."""
    name = f"mvh-{network}"
    return name if len(name.encode()) <= IFNAMSIZ - 1 else "mvh-" + short_hash(network, length=11)


def host_ifname(network: str, netns_key: str, ifname: str) -> str:
    """Deterministic host-side veth name: detach finds it even without state."""
    return "cni" + short_hash(network, netns_key, ifname)


def parse_labels(items: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f'bad label "{item}": use KEY=VALUE (example: env=lab)')
        labels[key] = value
    return labels


@record
class SubnetSpec:
    subnet: str
    gateway: str
    ip_range: str | None = None

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.subnet)

    @property
    def gateway_cidr(self) -> str:
        return f"{self.gateway}/{self.network.prefixlen}"


@record
class Network:
    name: str
    driver: str
    bridge: str
    subnets: list[SubnetSpec]
    mtu: int | None = None
    internal: bool = False
    masquerade: bool = True
    managed_bridge: bool = True
    labels: dict[str, str] = field(default_factory=dict)
    created: str = ""
    mac: str | None = None
    isolate: bool = True
    icc: bool = True
    firewall: str = "nftables"
    # macvlan / ipvlan: the link the containers' interfaces hang off (a VLAN sub-interface when vlan is set),
    # its trunk, the mode, whether cnictl created the sub-interface, and the host-access shim.
    parent: str | None = None
    mode: str | None = None
    vlan: int | None = None
    vlan_parent: str | None = None
    managed_parent: bool = False
    host_access: bool = False
    shim: str | None = None
    shim_addresses: list[str] = field(default_factory=list)
    # where `net create --cni-conf-dir` wrote this network's conflist (removed with the network)
    cni_conf_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Network:
        data = dict(data)
        data["subnets"] = [SubnetSpec(**s) for s in data.get("subnets", [])]
        return cls(**data)

    @property
    def link(self) -> str:
        """What the network's interfaces hang off: its bridge, or its parent with the mode."""
        return self.bridge if self.driver == "bridge" else f"{self.parent} ({self.driver} {self.mode})"

    @property
    def has_ipv4(self) -> bool:
        return any(s.network.version == 4 for s in self.subnets)

    @property
    def has_ipv6(self) -> bool:
        return any(s.network.version == 6 for s in self.subnets)


@record
class Attachment:
    network: str
    container_id: str
    netns: str
    netns_key: str
    ifname: str
    host_ifname: str
    mac: str
    addresses: list[str]
    gateways: list[str]
    created: str = ""
    ports: list[dict[str, Any]] = field(default_factory=list)
    hairpin: bool = False  # asked for at attach (CNI hairpinMode): kept on when published ports go; absent in old records

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attachment:
        return cls(**data)
