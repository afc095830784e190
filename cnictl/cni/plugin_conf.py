"""The plugin's request: the network configuration on stdin and the CNI_* environment, validated.

Validation follows the reference skel, in its order: environment (`parse_env`), then JSON, network name,
version and the verb the version allows (`header`), then cnictl's own keys (`parse`). The runtime's inputs
for one attachment (CNI_ARGS, `runtimeConfig`, `args.cni`, `prevResult`, the GC list) are read here too.
Every error is a `CniError` with the spec's code: 4 for the environment, 6 for JSON, 7 for the configuration.

    >>> conf = parse("ADD", {"CNI_COMMAND": "ADD"}, b'{"cniVersion": "1.0.0", "name": "lab", "type": "cnictl"}')
    >>> conf.network, conf.version, conf.ipam_type
    ('lab', '1.0.0', None)
"""

from __future__ import annotations

from cnictl import jsonlite as json  # json's loads/dumps without importing json (start-up time)
from cnictl.cni import types as T
from cnictl.errors import CnictlError, CniError
from cnictl.record import field, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from cnictl.model import NetworkRequest

COMMANDS = ("ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION")


# network options accepted inline in the plugin configuration, key -> (NetworkRequest field, type): the settings
# every network has, and each driver's own, which its Option declarations name (`options_table`)
COMMON_OPTIONS: dict[str, tuple[str, type | tuple[type, ...]]] = {
    "subnet": ("subnets", (str, list)),
    "subnets": ("subnets", list),
    "gateway": ("gateway", str),
    "ipRange": ("ip_range", str),
    "driver": ("driver", str),
    "mtu": ("mtu", int),
    "internal": ("internal", bool),
    "firewall": ("firewall", str),
}
# keys of a configuration that are no network option: with only these (and common options) the drivers'
# declarations are not loaded
_OTHER_KEYS = frozenset(("cniVersion", "cniVersions", "name", "type", "network", "stateDir", "hairpinMode", "ipam",
                         "capabilities", "runtimeConfig", "args", "prevResult", "dns", "plugins"))


def options_table() -> dict[str, tuple[str, type | tuple[type, ...]]]:
    """Every inline option: the common ones and each driver's (its Option's cni_key)."""
    from cnictl import drivers

    return {**COMMON_OPTIONS, **{o.cni_key: (o.name, o.type) for o in drivers.request_options() if o.cni_key}}


REQUIRED_ENV = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
}



# ---------------------------------------------------------------------------------------
# the configuration
# ---------------------------------------------------------------------------------------
@record
class Conf:
    """The request: what the runtime sent on stdin and in CNI_* variables, validated."""

    command: str
    version: str
    name: str
    raw: dict[str, Any]
    stdin: bytes
    env: dict[str, str]
    network: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    ipam_type: str | None = None  # a delegated IPAM plugin; None = cnictl's own store
    state_dir: str | None = None
    hairpin: bool = True  # hairpinMode: the bridge port in hairpin mode (podman and netavark always do it)

    @property
    def container_id(self) -> str:
        return self.env.get("CNI_CONTAINERID", "")

    @property
    def ifname(self) -> str:
        return self.env.get("CNI_IFNAME", "")

    @property
    def netns(self) -> str:
        return self.env.get("CNI_NETNS", "")


def bad(key: str, value: Any, why: str) -> CniError:
    """Code 7 (invalid network config), naming the key of the configuration (runtimeConfig.*, args.* included)."""
    return CniError(T.INVALID_CONFIG, f'invalid "{key}" in the network configuration', f"{json.dumps(value)[:200]}: {why}")


def bad_env(key: str, why: str) -> CniError:
    """Code 4 (invalid necessary environment variables), naming the variable: a value from CNI_ARGS."""
    return CniError(T.INVALID_ENV, f"invalid {key} in CNI_ARGS", why)


def parse_env(env: Mapping[str, str]) -> str:
    cmd = env.get("CNI_COMMAND", "")
    if not cmd:
        raise CniError(T.INVALID_ENV, "required env variables [CNI_COMMAND] missing")
    if cmd not in COMMANDS:
        raise CniError(T.INVALID_ENV, f"unknown CNI_COMMAND: {cmd}")
    missing = [k for k in REQUIRED_ENV.get(cmd, ()) if not env.get(k)]
    if missing:
        raise CniError(T.INVALID_ENV, f"required env variables [{','.join(missing)}] missing")
    if cmd in REQUIRED_ENV:
        cid = T.validate_container_id(env["CNI_CONTAINERID"])
        if len(cid) > 255:
            raise CniError(T.INVALID_ENV, "containerID is too long", "at most 255 characters")
        T.validate_ifname(env["CNI_IFNAME"])
    netns = env.get("CNI_NETNS", "")
    if netns and cmd in REQUIRED_ENV and ("\0" in netns or len(netns) > 4096):
        raise CniError(T.INVALID_ENV, "invalid CNI_NETNS", repr(netns[:100]))
    return cmd


def decode(stdin: bytes) -> dict[str, Any]:
    try:
        data = json.loads(stdin)
    except (ValueError, RecursionError) as e:
        raise CniError(T.DECODING_FAILURE, "failed to decode the network configuration", str(e)[:200]) from None
    if not isinstance(data, dict):
        raise CniError(T.DECODING_FAILURE, "failed to decode the network configuration", "not a JSON object")
    # the fields skel decodes into typed Go fields: a wrong JSON type is a decoding failure there (null is "")
    ipam = data.get("ipam")
    typed = [(k, data.get(k)) for k in ("cniVersion", "name", "type")]
    if ipam is not None and not isinstance(ipam, dict):
        raise CniError(T.DECODING_FAILURE, "failed to decode the network configuration", '"ipam" is not an object')
    if isinstance(ipam, dict):
        typed.append(("ipam.type", ipam.get("type")))
    for key, value in typed:
        if value is not None and not isinstance(value, str):
            raise CniError(T.DECODING_FAILURE, "failed to decode the network configuration", f'"{key}" is not a string')
    return data


def version_of(data: dict[str, Any]) -> str:
    v = data.get("cniVersion")
    if v is None or v == "":
        return "0.1.0"
    if v not in T.VERSIONS:
        raise CniError(T.INCOMPATIBLE_VERSION, "incompatible CNI versions",
                       f'config is "{v[:50]}", plugin supports {json.dumps(list(T.VERSIONS))}')
    return v


def header(cmd: str, stdin: bytes) -> tuple[dict[str, Any], str, str]:
    """skel's part: JSON, network name, version, the verb allowed by the version: (data, name, version)."""
    data = decode(stdin)
    name = T.validate_network_name(data.get("name"))
    version = version_of(data)
    if cmd == "CHECK" and not T.at_least(version, "0.4.0"):
        raise CniError(T.INCOMPATIBLE_VERSION, "config version does not allow CHECK", f'config is "{version}"')
    if cmd in ("GC", "STATUS") and not T.at_least(version, "1.1.0"):
        raise CniError(T.INCOMPATIBLE_VERSION, f"config version does not allow {cmd}", f'config is "{version}"')
    return data, name, version


def parse(cmd: str, env: Mapping[str, str], stdin: bytes,
          head: tuple[dict[str, Any], str, str] | None = None) -> Conf:
    """The validated request; *head* is `header`'s answer when the caller has it already."""
    data, name, version = head or header(cmd, stdin)
    conf = Conf(cmd, version, name, data, stdin, dict(env))
    if data.get("type"):
        T.validate_plugin_type(data["type"])
    network = data.get("network", name)
    if not isinstance(network, str):
        raise bad("network", network, "give the name of a cnictl network")
    conf.network = T.validate_network_name(network)
    if len(network) > 63:
        raise bad("network", network, "cnictl network names have at most 63 characters")
    plain = all(k in COMMON_OPTIONS or k in _OTHER_KEYS for k in data)
    for key, (attr, expected) in (COMMON_OPTIONS if plain else options_table()).items():
        if key not in data:
            continue
        value: Any = data[key]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise bad(key, value, "wrong type")
        if attr == "subnets":
            value = [value] if isinstance(value, str) else value
            if not value or not all(isinstance(s, str) for s in value):
                raise bad(key, data[key], "give a CIDR or a list of CIDRs")
        conf.options[attr] = value
    state_dir = data.get("stateDir")
    if state_dir is not None and (not isinstance(state_dir, str) or not state_dir.startswith("/") or "\0" in state_dir):
        raise bad("stateDir", state_dir, "give an absolute path")
    conf.state_dir = state_dir or env.get("CNICTL_STATE_DIR") or None
    hairpin = data.get("hairpinMode", True)
    if not isinstance(hairpin, bool):
        raise bad("hairpinMode", hairpin, "give true or false")
    conf.hairpin = hairpin
    ipam = data.get("ipam")
    if isinstance(ipam, dict) and ipam:
        kind = ipam.get("type") or "cnictl"
        T.validate_plugin_type(kind)
        if kind != "cnictl":
            conf.ipam_type = kind
    return conf


def request(conf: Conf) -> NetworkRequest | None:
    """The inline network options as a NetworkRequest (None when the config only names a network)."""
    if not conf.options:
        return None
    from cnictl.model import NetworkRequest

    fields = NetworkRequest.__record_fields__  # type: ignore[attr-defined]
    common = {k: v for k, v in conf.options.items() if k in fields}
    return NetworkRequest(name=conf.network, **common,
                          options={k: v for k, v in conf.options.items() if k not in fields})


# ---------------------------------------------------------------------------------------
# runtime inputs: CNI_ARGS, runtimeConfig, args.cni, prevResult, the GC list
# ---------------------------------------------------------------------------------------
def cni_args(conf: Conf) -> dict[str, str]:
    return T.check_known_args(T.parse_args(conf.env.get("CNI_ARGS", "")), ("IP", "MAC", "GATEWAY"))


def section(data: dict[str, Any], *path: str) -> dict[str, Any]:
    for key in path:
        value = data.get(key)
        if not isinstance(value, dict):
            return {}
        data = value
    return data


def requested_ips(conf: Conf, args: dict[str, str]) -> list[str]:
    """runtimeConfig.ips, else args.cni.ips, else CNI_ARGS IP= (CONVENTIONS.md: args win over CNI_ARGS)."""
    from cnictl.ipam.allocator import parse_ip

    where = ""
    for where, value in (("runtimeConfig.ips", section(conf.raw, "runtimeConfig").get("ips")),
                         ("args.cni.ips", section(conf.raw, "args", "cni").get("ips"))):
        if value is not None:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise bad(where, value, "give a list of addresses")
            texts = value
            break
    else:
        where, texts = "", [t for t in args.get("IP", "").split(",") if t]
    out = []
    for text in texts:
        try:
            out.append(str(parse_ip(text.split("/")[0], "requested IP")))
        except CnictlError as e:  # a value of the configuration is code 7; one of the environment, code 4
            raise (bad(where, text, e.message) if where else bad_env("IP", e.message)) from None
    return out


def requested_mac(conf: Conf, args: dict[str, str]) -> str | None:
    from cnictl.model import validate_mac

    sources = (("runtimeConfig.mac", section(conf.raw, "runtimeConfig").get("mac")),
               ("args.cni.mac", section(conf.raw, "args", "cni").get("mac")), ("", args.get("MAC")))
    where, mac = next(((w, m) for w, m in sources if m), ("", None))  # runtimeConfig, else args, else CNI_ARGS
    if mac is None:
        return None
    if not isinstance(mac, str):
        raise bad(where, mac, "give a MAC address")
    try:
        return validate_mac(mac)
    except CnictlError as e:  # a value of the configuration is code 7; one of the environment, code 4
        raise (bad(where, mac, e.message) if where else bad_env("MAC", e.message)) from None


def port_specs(conf: Conf) -> list[str]:
    """runtimeConfig.portMappings as cnictl -p specs ([HOST_IP:]HOST_PORT:CONTAINER_PORT/PROTO)."""
    maps = section(conf.raw, "runtimeConfig").get("portMappings")
    if maps is None:
        return []
    if not isinstance(maps, list):
        raise bad("runtimeConfig.portMappings", maps, "must be a list")
    specs = []
    for m in maps:
        if not isinstance(m, dict):
            raise bad("runtimeConfig.portMappings", m, "each mapping is an object")
        hp, cp, proto, hip = m.get("hostPort"), m.get("containerPort"), m.get("protocol") or "tcp", m.get("hostIP") or ""
        if not all(isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 65535 for p in (hp, cp)):
            raise bad("runtimeConfig.portMappings", m, "hostPort and containerPort must be 1-65535")
        if not isinstance(proto, str) or proto.lower() not in ("tcp", "udp") or not isinstance(hip, str):
            raise bad("runtimeConfig.portMappings", m, "protocol must be tcp or udp, hostIP an IPv4 address")
        host_ip = "" if hip in ("", "0.0.0.0") else hip
        specs.append(f"{host_ip + ':' if host_ip else ''}{hp}:{cp}/{proto.lower()}")
    from cnictl.ports import PortSpec

    for s in specs:
        try:
            PortSpec.parse(s)
        except CnictlError as e:
            raise CniError(T.INVALID_CONFIG, "invalid port mapping", e.message) from None
    return specs


def prev_result(conf: Conf) -> dict[str, Any] | None:
    prev = conf.raw.get("prevResult")
    if prev is None:
        return None
    if isinstance(prev, dict) and not prev.get("cniVersion"):
        prev = {**prev, "cniVersion": conf.version}
    return T.normalise_result(prev)


def valid_attachments(conf: Conf) -> set[tuple[str, str]] | None:
    for key in ("cni.dev/valid-attachments", "cni.dev/attachments"):
        if key not in conf.raw:
            continue
        value = conf.raw[key]
        if value is None:
            return set()
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise bad(key, value, "give a list of {containerID, ifname} objects")
        out = set()
        for v in value:
            cid, ifname = v.get("containerID"), v.get("ifname")
            if not isinstance(cid, str) or not isinstance(ifname, str):
                raise bad(key, v, "containerID and ifname must be strings")
            out.add((cid, ifname))
        return out
    return None  # no list at all: nothing is known to be stale
