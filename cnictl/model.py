"""What cnictl manages, as plain data: networks and attachments, with validation of names and values.

    >>> validate_ifname("eth0")
    'eth0'
"""

from __future__ import annotations

import ipaddress

from cnictl.errors import ConfigError
from cnictl.record import asdict, field, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    import re
    from typing import Any

    NAME_RE: re.Pattern[str]
    MAC_RE: re.Pattern[str]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
MAC_PATTERN = r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$"
IFNAMSIZ = 16
# is_name/is_mac check these patterns with str methods: importing re (and enum with it) and compiling would
# cost the CNI plugin's every call ~2-4 ms. NAME_RE and MAC_RE are still there, compiled when first asked for.
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_NAME_REST = _ALNUM | frozenset("_.-")
_HEX = frozenset("0123456789abcdefABCDEF")


def is_name(text: str) -> bool:
    """NAME_RE.fullmatch(text) is not None: 1-63 letters, digits, "_", "." or "-", the first a letter or digit."""
    return 0 < len(text) <= 63 and text[0] in _ALNUM and set(text) <= _NAME_REST


def is_mac(text: str) -> bool:
    """MAC_RE.fullmatch(text) is not None: six colon-separated pairs of hex digits."""
    parts = text.split(":")
    return len(parts) == 6 and all(len(p) == 2 and p[0] in _HEX and p[1] in _HEX for p in parts)


def __getattr__(name: str) -> object:
    if name in ("NAME_RE", "MAC_RE"):
        import re

        value = globals()[name] = re.compile(NAME_PATTERN if name == "NAME_RE" else MAC_PATTERN)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def validate_network_name(name: str) -> str:
    if not is_name(name) or name in (".", ".."):
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
    if not is_mac(mac) or int(mac[:2], 16) & 1 or mac.replace(":", "") == "000000000000":
        raise ConfigError(f'bad MAC address "{mac}": use a unicast address such as 02:42:ac:11:00:02')
    return mac.lower()


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


# The flat layout of release 0.1's network records: the order of its keys, and what it wrote for the keys of
# the other drivers (0.1 requires "bridge" when it reads a record and rejects keys it does not know).
_FLAT_0_1 = ("name", "driver", "bridge", "subnets", "mtu", "internal", "masquerade", "managed_bridge", "labels",
             "created", "mac", "isolate", "icc", "firewall", "parent", "mode", "vlan", "vlan_parent",
             "managed_parent", "host_access", "shim", "shim_addresses", "cni_conf_dir")
_PADDING_0_1: dict[str, Any] = {
    "bridge": "", "masquerade": False, "managed_bridge": False, "mac": None, "isolate": True, "icc": True,
    "parent": None, "mode": None, "vlan": None, "vlan_parent": None, "managed_parent": False, "host_access": False,
    "shim": None, "shim_addresses": [],
}


def _options_type(driver: str) -> Any:
    from cnictl import drivers

    return drivers.get_driver(driver).options_type


def _pick(record_type: Any, data: dict[str, Any]) -> Any:
    """A record of *record_type* from the keys of *data* it has (lists and dicts copied)."""
    return record_type(**{k: asdict(data[k]) for k in record_type.__record_fields__ if k in data})


@record
class Network:
    """A network: the settings every driver has, and in *options* the driver's own typed record
    (`BridgeOptions`, `MacvlanOptions`; see `cnictl.drivers`).

    Stored layout (networks/<name>.json) and `net inspect --json`: flat, unchanged from release 0.1. The
    common fields and the driver's options sit side by side at the top level, and the other keys of the 0.1
    layout follow with the values 0.1 wrote for them, so 0.1 reads records of this release back and scripts
    reading "bridge" or "parent" see what they saw. A driver added later appends its own keys. `from_dict`
    reads that layout (a nested "options" object too) and ignores the keys the driver does not have.

    For the same reason `Network(...)` also takes the 0.1 arguments (`Network("lab", "bridge", "br-lab",
    [subnet], mtu=1400, icc=False)`) and the options can be read and set as attributes (`net.bridge`), at
    run time only: typed code goes through `net.options` or asks the driver.

        >>> net = Network.from_dict({"name": "lab", "driver": "bridge", "bridge": "br-lab", "parent": None,
        ...                          "subnets": [{"subnet": "10.20.0.0/24", "gateway": "10.20.0.1"}]})
        >>> net.options.bridge, net.to_dict()["parent"], net.to_dict()["bridge"]
        ('br-lab', None, 'br-lab')
    """

    name: str
    driver: str
    subnets: list[SubnetSpec]
    mtu: int | None = None
    internal: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    created: str = ""
    firewall: str = "nftables"
    # where `net create --cni-conf-dir` wrote this network's conflist (removed with the network)
    cni_conf_dir: str | None = None
    options: Any = None  # the driver's options record (None: the driver's defaults)

    def __post_init__(self) -> None:
        if self.options is None:
            object.__setattr__(self, "options", _options_type(self.driver)())

    def to_dict(self) -> dict[str, Any]:
        own = asdict(self.options)
        out: dict[str, Any] = {}
        for key in _FLAT_0_1:
            if key in _COMMON:
                out[key] = asdict(getattr(self, key))
            else:
                out[key] = own.pop(key) if key in own else asdict(_PADDING_0_1[key])
        out.update(own)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Network:
        nested = data.get("options")
        flat = nested if isinstance(nested, dict) else data
        common = {k: asdict(data[k]) for k in _COMMON if k in data}
        common["subnets"] = [SubnetSpec(**s) for s in data.get("subnets", [])]
        return cls(**common, options=_pick(_options_type(str(data.get("driver"))), flat))

    @property
    def has_ipv4(self) -> bool:
        return any(s.network.version == 4 for s in self.subnets)

    @property
    def has_ipv6(self) -> bool:
        return any(s.network.version == 6 for s in self.subnets)

    if not TYPE_CHECKING:  # the 0.1 attribute view of the options (see the class docstring), at run time only
        def __getattr__(self, name: str) -> Any:
            if name.startswith("_") or name == "options":
                raise AttributeError(name)
            options = self.__dict__.get("options")
            if options is not None and name in type(options).__record_fields__:
                return getattr(options, name)
            extra = self.__dict__.get("_extra", {})
            if name in extra:
                return extra[name]
            if name in _PADDING_0_1:
                return asdict(_PADDING_0_1[name])
            raise AttributeError(f"'Network' object has no attribute '{name}'")

        def __setattr__(self, name: str, value: Any) -> None:
            if name == "driver" and value != self.__dict__.get("driver"):
                object.__setattr__(self, name, value)
                self._retype()
            elif name in _COMMON or name == "options" or name.startswith("_"):
                object.__setattr__(self, name, value)
            elif name in type(self.options).__record_fields__:
                setattr(self.options, name, value)
            elif name in _PADDING_0_1:
                self.__dict__.setdefault("_extra", {})[name] = value
            else:
                object.__setattr__(self, name, value)

        def _retype(self) -> None:
            """The driver changed: carry the options over to the new driver's record by name."""
            flat = {**asdict(self.options), **self.__dict__.get("_extra", {})}
            new = _options_type(self.driver)
            object.__setattr__(self, "options", _pick(new, flat))
            self.__dict__["_extra"] = {k: v for k, v in flat.items() if k not in new.__record_fields__}


_COMMON = frozenset(n for n in Network.__record_fields__ if n != "options")  # type: ignore[attr-defined]

if not TYPE_CHECKING:
    _network_init = Network.__init__

    def _network_init_0_1(self: Network, *args: Any, **kwargs: Any) -> None:
        """Also the 0.1 arguments: a bridge name third, or options given by name."""
        if (len(args) > 2 and isinstance(args[2], str)) or any(k not in Network.__record_fields__ for k in kwargs):
            flat = dict(zip(_FLAT_0_1, args, strict=False))
            for k in kwargs:
                if k in flat:
                    raise TypeError(f"Network() got multiple values for argument '{k}'")
            flat.update(kwargs)
            unknown = sorted(k for k in flat if k not in _COMMON and k not in _PADDING_0_1 and k != "options")
            if unknown:
                raise TypeError(f"Network() got an unexpected keyword argument '{unknown[0]}'")
            options_type = _options_type(str(flat.get("driver")))
            rest = {k: v for k, v in flat.items() if k not in _COMMON and k != "options"}
            _network_init(self, **{k: v for k, v in flat.items() if k in _COMMON},
                          options=flat.get("options") or _pick(options_type, rest))
            extra = {k: v for k, v in rest.items() if k not in options_type.__record_fields__}
            if extra:
                self.__dict__["_extra"] = extra
            return
        _network_init(self, *args, **kwargs)

    Network.__init__ = _network_init_0_1


@record
class NetworkRequest:
    """What `net create`, the library and an inline CNI configuration ask for: the settings every driver
    has, and in *options* the driver's own by name (each driver declares them once, as `Option`s in
    `request_options`; one left out takes its declared default). The driver's `validate` turns it into a
    `Network`.

    At run time the 0.1 spelling works too: options given as keywords, `NetworkRequest(name="lan",
    driver="macvlan", parent="eth0")`, and read as attributes, `req.parent`.

        >>> NetworkRequest("lan", "macvlan", options={"parent": "eth0"}).option("parent")
        'eth0'
    """

    name: str
    driver: str = "bridge"
    subnets: list[str] = field(default_factory=list)
    gateway: str | None = None
    ip_range: str | None = None
    mtu: int | None = None
    internal: bool = False
    firewall: str | None = None  # backend of this network (default: the invocation's --firewall)
    labels: dict[str, str] = field(default_factory=dict)
    cni_conf_dir: str | None = None  # also write the network's conflist (reference plugins) there
    options: dict[str, Any] = field(default_factory=dict)

    def option(self, name: str) -> Any:
        """The value asked for the driver option *name*, or its declared default."""
        if name in self.options:
            return self.options[name]
        from cnictl import drivers

        return drivers.option(name).default

    def asked(self, name: str) -> bool:
        """*name* was given a value other than its default (what a user asked for)."""
        from cnictl import drivers

        return name in self.options and self.options[name] != drivers.option(name).default

    if not TYPE_CHECKING:  # the 0.1 attribute view of the options
        def __getattr__(self, name: str) -> Any:
            if name.startswith("_") or name == "options":
                raise AttributeError(name)
            from cnictl import drivers

            if drivers.find_option(name) is None:
                raise AttributeError(f"'NetworkRequest' object has no attribute '{name}'")
            return self.option(name)


if not TYPE_CHECKING:
    _request_init = NetworkRequest.__init__

    def _request_init_0_1(self: NetworkRequest, *args: Any, **kwargs: Any) -> None:
        """Also driver options given by name (the 0.1 keywords)."""
        fields = NetworkRequest.__record_fields__
        loose = {k: kwargs.pop(k) for k in [k for k in kwargs if k not in fields]}
        if loose:
            from cnictl import drivers

            for k in loose:
                if drivers.find_option(k) is None:
                    raise TypeError(f"NetworkRequest() got an unexpected keyword argument '{k}'")
            kwargs["options"] = {**kwargs.get("options", {}), **loose}
        _request_init(self, *args, **kwargs)

    NetworkRequest.__init__ = _request_init_0_1


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
