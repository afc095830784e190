"""`cnictl-cni`: cnictl as a CNI plugin (type `cnictl`) that container runtimes call.

The plugin drives the same core as the CLI, in the namespace the runtime runs it in (that namespace is
the "host"): ADD = `ops.attach`, DEL = `ops.detach_container`, CHECK = `ops.check_attachment`, GC =
`ops.gc_network`, STATUS = can an ADD be served, VERSION. Configuration:

    {"cniVersion": "1.0.0", "name": "lab", "type": "cnictl"}                   # network "lab", made by cnictl
    {"cniVersion": "1.0.0", "name": "pods", "type": "cnictl", "network": "lab"}  # network named explicitly
    {"cniVersion": "1.1.0", "name": "lab", "type": "cnictl",                      # created on the first ADD
     "subnet": "10.20.0.0/24", "bridge": "br-lab", "stateDir": "/var/lib/cnictl"}

Validation follows the reference skel, in its order: environment, stdin, JSON, network name, version,
then the verb. Every failure prints exactly one error object on stdout and exits 1; stderr is for logs.
`run(env, stdin)` is the whole plugin as a function that never raises (the fuzz test calls it).

    >>> code, out = run({"CNI_COMMAND": "VERSION"}, b"")
    >>> code, json.loads(out)["supportedVersions"][-1]
    (0, '1.1.0')
    >>> run({"CNI_COMMAND": "BOGUS"}, b"{}")
    (1, b'{"code": 4, "msg": "unknown CNI_COMMAND: BOGUS"}')
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping

from cnictl.cni import types as T
from cnictl.errors import CnictlError, CniError
from cnictl.record import field, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any, TextIO

    from cnictl.host import Host
    from cnictl.model import Network
    from cnictl.ops import NetworkRequest, Outcome
    from cnictl.steps import ReserveIP

COMMANDS = ("ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION")
CHECK_FAILED = 101
"""Plugin-specific code: CHECK found the attachment different from prevResult (or missing)."""
GC_INCOMPLETE = 102
"""Plugin-specific code: GC removed what it could, and some removals failed."""

# network options accepted inline in the plugin configuration: key -> (NetworkRequest field, type)
_OPTIONS: dict[str, tuple[str, type | tuple[type, ...]]] = {
    "subnet": ("subnets", (str, list)),
    "subnets": ("subnets", list),
    "gateway": ("gateway", str),
    "ipRange": ("ip_range", str),
    "bridge": ("bridge", str),
    "driver": ("driver", str),
    "parent": ("parent", str),
    "mode": ("mode", str),
    "vlan": ("vlan", int),
    "mtu": ("mtu", int),
    "internal": ("internal", bool),
    "ipMasq": ("masquerade", bool),
    "isolate": ("isolate", bool),
    "icc": ("icc", bool),
    "firewall": ("firewall", str),
    "hostAccess": ("host_access", bool),
}
_REQUIRED_ENV = {
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


def _bad(key: str, value: Any, why: str) -> CniError:
    """Code 7 (invalid network config), naming the key of the configuration (runtimeConfig.*, args.* included)."""
    return CniError(T.INVALID_CONFIG, f'invalid "{key}" in the network configuration', f"{json.dumps(value)[:200]}: {why}")


def _bad_env(key: str, why: str) -> CniError:
    """Code 4 (invalid necessary environment variables), naming the variable: a value from CNI_ARGS."""
    return CniError(T.INVALID_ENV, f"invalid {key} in CNI_ARGS", why)


def _parse_env(env: Mapping[str, str]) -> str:
    cmd = env.get("CNI_COMMAND", "")
    if not cmd:
        raise CniError(T.INVALID_ENV, "required env variables [CNI_COMMAND] missing")
    if cmd not in COMMANDS:
        raise CniError(T.INVALID_ENV, f"unknown CNI_COMMAND: {cmd}")
    missing = [k for k in _REQUIRED_ENV.get(cmd, ()) if not env.get(k)]
    if missing:
        raise CniError(T.INVALID_ENV, f"required env variables [{','.join(missing)}] missing")
    if cmd in _REQUIRED_ENV:
        cid = T.validate_container_id(env["CNI_CONTAINERID"])
        if len(cid) > 255:
            raise CniError(T.INVALID_ENV, "containerID is too long", "at most 255 characters")
        T.validate_ifname(env["CNI_IFNAME"])
    netns = env.get("CNI_NETNS", "")
    if netns and cmd in _REQUIRED_ENV and ("\0" in netns or len(netns) > 4096):
        raise CniError(T.INVALID_ENV, "invalid CNI_NETNS", repr(netns[:100]))
    return cmd


def _decode(stdin: bytes) -> dict[str, Any]:
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


def _version(data: dict[str, Any]) -> str:
    v = data.get("cniVersion")
    if v is None or v == "":
        return "0.1.0"
    if v not in T.VERSIONS:
        raise CniError(T.INCOMPATIBLE_VERSION, "incompatible CNI versions",
                       f'config is "{v[:50]}", plugin supports {json.dumps(list(T.VERSIONS))}')
    return v


def _header(cmd: str, stdin: bytes) -> tuple[dict[str, Any], str, str]:
    """skel's part: JSON, network name, version, the verb allowed by the version: (data, name, version)."""
    data = _decode(stdin)
    name = T.validate_network_name(data.get("name"))
    version = _version(data)
    if cmd == "CHECK" and not T.at_least(version, "0.4.0"):
        raise CniError(T.INCOMPATIBLE_VERSION, "config version does not allow CHECK", f'config is "{version}"')
    if cmd in ("GC", "STATUS") and not T.at_least(version, "1.1.0"):
        raise CniError(T.INCOMPATIBLE_VERSION, f"config version does not allow {cmd}", f'config is "{version}"')
    return data, name, version


def _conf(cmd: str, env: Mapping[str, str], stdin: bytes,
          header: tuple[dict[str, Any], str, str] | None = None) -> Conf:
    """The validated request; *header* is _header's answer when the caller has it already."""
    data, name, version = header or _header(cmd, stdin)
    conf = Conf(cmd, version, name, data, stdin, dict(env))
    if data.get("type"):
        T.validate_plugin_type(data["type"])
    network = data.get("network", name)
    if not isinstance(network, str):
        raise _bad("network", network, "give the name of a cnictl network")
    conf.network = T.validate_network_name(network)
    if len(network) > 63:
        raise _bad("network", network, "cnictl network names have at most 63 characters")
    for key, (attr, expected) in _OPTIONS.items():
        if key not in data:
            continue
        value: Any = data[key]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise _bad(key, value, "wrong type")
        if attr == "subnets":
            value = [value] if isinstance(value, str) else value
            if not value or not all(isinstance(s, str) for s in value):
                raise _bad(key, data[key], "give a CIDR or a list of CIDRs")
        conf.options[attr] = value
    state_dir = data.get("stateDir")
    if state_dir is not None and (not isinstance(state_dir, str) or not state_dir.startswith("/") or "\0" in state_dir):
        raise _bad("stateDir", state_dir, "give an absolute path")
    conf.state_dir = state_dir or env.get("CNICTL_STATE_DIR") or None
    hairpin = data.get("hairpinMode", True)
    if not isinstance(hairpin, bool):
        raise _bad("hairpinMode", hairpin, "give true or false")
    conf.hairpin = hairpin
    ipam = data.get("ipam")
    if isinstance(ipam, dict) and ipam:
        kind = ipam.get("type") or "cnictl"
        T.validate_plugin_type(kind)
        if kind != "cnictl":
            conf.ipam_type = kind
    return conf


def _request(conf: Conf) -> NetworkRequest | None:
    """The inline network options as a NetworkRequest (None when the config only names a network)."""
    if not conf.options:
        return None
    from cnictl.ops import NetworkRequest

    return NetworkRequest(name=conf.network, **conf.options)


# ---------------------------------------------------------------------------------------
# runtime inputs: CNI_ARGS, runtimeConfig, args.cni
# ---------------------------------------------------------------------------------------
def _cni_args(conf: Conf) -> dict[str, str]:
    return T.check_known_args(T.parse_args(conf.env.get("CNI_ARGS", "")), ("IP", "MAC", "GATEWAY"))


def _section(data: dict[str, Any], *path: str) -> dict[str, Any]:
    for key in path:
        value = data.get(key)
        if not isinstance(value, dict):
            return {}
        data = value
    return data


def _requested_ips(conf: Conf, args: dict[str, str]) -> list[str]:
    """runtimeConfig.ips, else args.cni.ips, else CNI_ARGS IP= (CONVENTIONS.md: args win over CNI_ARGS)."""
    from cnictl.ipam.allocator import parse_ip

    where = ""
    for where, value in (("runtimeConfig.ips", _section(conf.raw, "runtimeConfig").get("ips")),
                         ("args.cni.ips", _section(conf.raw, "args", "cni").get("ips"))):
        if value is not None:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _bad(where, value, "give a list of addresses")
            texts = value
            break
    else:
        where, texts = "", [t for t in args.get("IP", "").split(",") if t]
    out = []
    for text in texts:
        try:
            out.append(str(parse_ip(text.split("/")[0], "requested IP")))
        except CnictlError as e:  # a value of the configuration is code 7; one of the environment, code 4
            raise (_bad(where, text, e.message) if where else _bad_env("IP", e.message)) from None
    return out


def _requested_mac(conf: Conf, args: dict[str, str]) -> str | None:
    from cnictl.model import validate_mac

    sources = (("runtimeConfig.mac", _section(conf.raw, "runtimeConfig").get("mac")),
               ("args.cni.mac", _section(conf.raw, "args", "cni").get("mac")), ("", args.get("MAC")))
    where, mac = next(((w, m) for w, m in sources if m), ("", None))  # runtimeConfig, else args, else CNI_ARGS
    if mac is None:
        return None
    if not isinstance(mac, str):
        raise _bad(where, mac, "give a MAC address")
    try:
        return validate_mac(mac)
    except CnictlError as e:  # a value of the configuration is code 7; one of the environment, code 4
        raise (_bad(where, mac, e.message) if where else _bad_env("MAC", e.message)) from None


def _port_specs(conf: Conf) -> list[str]:
    """runtimeConfig.portMappings as cnictl -p specs ([HOST_IP:]HOST_PORT:CONTAINER_PORT/PROTO)."""
    maps = _section(conf.raw, "runtimeConfig").get("portMappings")
    if maps is None:
        return []
    if not isinstance(maps, list):
        raise _bad("runtimeConfig.portMappings", maps, "must be a list")
    specs = []
    for m in maps:
        if not isinstance(m, dict):
            raise _bad("runtimeConfig.portMappings", m, "each mapping is an object")
        hp, cp, proto, hip = m.get("hostPort"), m.get("containerPort"), m.get("protocol") or "tcp", m.get("hostIP") or ""
        if not all(isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 65535 for p in (hp, cp)):
            raise _bad("runtimeConfig.portMappings", m, "hostPort and containerPort must be 1-65535")
        if not isinstance(proto, str) or proto.lower() not in ("tcp", "udp") or not isinstance(hip, str):
            raise _bad("runtimeConfig.portMappings", m, "protocol must be tcp or udp, hostIP an IPv4 address")
        host_ip = "" if hip in ("", "0.0.0.0") else hip
        specs.append(f"{host_ip + ':' if host_ip else ''}{hp}:{cp}/{proto.lower()}")
    from cnictl.ports import PortSpec

    for s in specs:
        try:
            PortSpec.parse(s)
        except CnictlError as e:
            raise CniError(T.INVALID_CONFIG, "invalid port mapping", e.message) from None
    return specs


def _prev_result(conf: Conf) -> dict[str, Any] | None:
    prev = conf.raw.get("prevResult")
    if prev is None:
        return None
    if isinstance(prev, dict) and not prev.get("cniVersion"):
        prev = {**prev, "cniVersion": conf.version}
    return T.normalise_result(prev)


# ---------------------------------------------------------------------------------------
# the host, the namespace, the network
# ---------------------------------------------------------------------------------------
def _host(conf: Conf) -> Host:
    from cnictl.host import DEFAULT_STATE_DIR, Host, Paths

    firewall = conf.options.get("firewall") or conf.env.get("CNICTL_FIREWALL") or "nftables"
    host = Host(netns=None, state_dir=conf.state_dir or DEFAULT_STATE_DIR, firewall=firewall)
    if not conf.state_dir:  # the machine's places, whatever this process's own environment says
        host.paths = Paths.machine()
    return host


def _check_netns(conf: Conf) -> None:
    """CNI_NETNS must be a network namespace (code 3 when it is not there) other than the plugin's own (code 8)."""
    import stat

    from cnictl.errors import NetnsNotFoundError
    from cnictl.netns import NetnsRef

    try:
        ref = NetnsRef.parse(conf.netns)
        if not stat.S_ISREG(os.stat(ref.path).st_mode):  # nsfs files are regular; never open a FIFO or a device
            raise CniError(T.INVALID_ENV, "invalid CNI_NETNS", f"{conf.netns} is not a network namespace")
        fd = ref.open()
    except FileNotFoundError:
        raise CniError(T.UNKNOWN_CONTAINER, "network namespace not found", conf.netns) from None
    except OSError as e:
        raise CniError(T.INVALID_ENV, "invalid CNI_NETNS", f"{conf.netns}: {e.strerror}") from None
    except NetnsNotFoundError as e:
        raise CniError(T.UNKNOWN_CONTAINER, "network namespace not found", e.message) from None
    except CnictlError as e:
        raise CniError(T.INVALID_ENV, "invalid CNI_NETNS", e.message) from None
    try:
        st = os.fstat(fd)
        own = os.stat("/proc/thread-self/ns/net")
    finally:
        os.close(fd)
    if (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino) and \
            conf.env.get("CNI_NETNS_OVERRIDE", "").lower() not in ("1", "true"):
        raise CniError(T.INVALID_NETNS, "the netns is the plugin's own namespace",
                       f"{conf.netns}: refusing to configure the host (set CNI_NETNS_OVERRIDE=1 to allow)")


_COMPARED = ("driver", "bridge", "parent", "mode", "vlan", "mtu", "internal", "isolate", "icc", "firewall",
             "host_access")


def _mismatches(net: Network, opts: dict[str, Any]) -> list[str]:
    """Inline options that differ from the existing network (an inline config must describe it exactly)."""
    import ipaddress

    out = []
    for attr in _COMPARED:
        if attr in opts and opts[attr] != getattr(net, attr):
            out.append(f"{attr}: {getattr(net, attr)!r} here, {opts[attr]!r} in the config")
    if "masquerade" in opts and opts["masquerade"] != net.masquerade and not net.internal:
        out.append(f"ipMasq: {net.masquerade!r} here, {opts['masquerade']!r} in the config")
    if "subnets" in opts:
        try:
            want = {str(ipaddress.ip_network(s)) for s in opts["subnets"]}
        except ValueError as e:
            return [f"subnet: {e}"]
        have = {s.subnet for s in net.subnets}
        if want != have:
            out.append(f"subnet: {sorted(have)} here, {sorted(want)} in the config")
    if opts.get("gateway") and opts["gateway"] not in {s.gateway for s in net.subnets}:
        out.append(f"gateway: {[s.gateway for s in net.subnets]} here, {opts['gateway']!r} in the config")
    return out


def _network(host: Host, conf: Conf, *, create: bool) -> Network:
    """The cnictl network of this config; with inline options it is created when missing and must match."""
    from cnictl import ops
    from cnictl.errors import ConflictError
    from cnictl.store import Store

    store = Store(host.paths)
    req = _request(conf)
    net = store.find_network(conf.network)
    if net is None:
        if req is None:
            raise CniError(T.INVALID_CONFIG, f'network "{conf.network}" not found',
                           "create it with `cnictl net create`, or give its options (subnet, ...) in the configuration")
        if not create:
            raise CniError(T.INVALID_CONFIG, f'network "{conf.network}" does not exist yet')
        try:
            ops.create_network(host, req, exist_ok=True)
        except ConflictError:
            if store.find_network(conf.network) is None:  # not a lost race with another ADD
                raise
        net = store.get_network(conf.network)
    if req is not None:
        diff = _mismatches(net, conf.options)
        if diff:
            raise CniError(T.INVALID_CONFIG, f'network "{conf.network}" exists with other settings', "; ".join(diff))
    return net


# ---------------------------------------------------------------------------------------
# verbs
# ---------------------------------------------------------------------------------------
def _add(conf: Conf) -> dict[str, Any]:
    from cnictl import ops
    from cnictl.errors import ConflictError
    from cnictl.store import Store

    args = _cni_args(conf)
    requested = _requested_ips(conf, args)
    mac = _requested_mac(conf, args)
    ports = _port_specs(conf)
    prev = _prev_result(conf)
    if conf.ipam_type and not conf.env.get("CNI_PATH"):
        raise CniError(T.INVALID_ENV, "required env variables [CNI_PATH] missing", f"to find IPAM plugin {conf.ipam_type}")
    _check_netns(conf)
    from cnictl.netns import NetnsRef

    ref = NetnsRef.parse(conf.netns)
    with _host(conf) as host:
        net = _network(host, conf, create=True)
        for att in Store(host.paths).attachments(conf.network):
            if att.container_id == conf.container_id and att.ifname == conf.ifname:
                raise ConflictError(f"{conf.container_id}/{conf.ifname} is already attached to {conf.network}",
                                    hint="duplicate allocation is not allowed: DEL it first")
            if att.netns_key == ref.key and att.ifname == conf.ifname:
                raise ConflictError(f'interface "{conf.ifname}" already exists in {conf.netns}')
        steps: list[ReserveIP] = []

        def hook(reserve: ReserveIP) -> ReserveIP:
            if conf.ipam_type:
                from cnictl.cni.delegate import DelegatedIPAM

                reserve = DelegatedIPAM(reserve, conf.ipam_type, conf.env, conf.stdin)
            else:
                reserve.requested = [_ip(t) for t in requested]
            steps.append(reserve)
            return reserve

        out = ops.attach(host, conf.network, conf.netns, ifname=conf.ifname, mac=mac, container_id=conf.container_id,
                         ports=ports, reserve_hook=hook, hairpin=conf.hairpin)
        return _result(conf, net, out, steps[0] if steps else None, prev)


def _ip(text: str) -> Any:
    from cnictl.ipam.allocator import parse_ip

    return parse_ip(text)


def _result(conf: Conf, net: Network, out: Outcome, reserve: ReserveIP | None, prev: dict[str, Any] | None) -> dict[str, Any]:
    """The ADD result: prevResult (if any) plus this plugin's interfaces, addresses and routes."""
    from cnictl.steps import ConfigureInterface

    att = out.result
    res: dict[str, Any] = {k: list(v) if isinstance(v, list) else v for k, v in (prev or {}).items()}
    interfaces = res.setdefault("interfaces", [])
    if att.get("host_ifname"):
        host_if: dict[str, Any] = {"name": att["host_ifname"]}
        if net.mtu:
            host_if["mtu"] = net.mtu
        interfaces.append(host_if)
    ctr: dict[str, Any] = {"name": conf.ifname}
    if att.get("mac"):
        ctr["mac"] = att["mac"]
    if net.mtu:
        ctr["mtu"] = net.mtu
    ctr["sandbox"] = conf.netns
    interfaces.append(ctr)
    index = len(interfaces) - 1
    ips = res.setdefault("ips", [])
    leases = reserve.leases if reserve is not None else []
    for lease in leases:
        entry: dict[str, Any] = {"address": lease.cidr}
        if lease.gateway is not None and not net.internal:
            entry["gateway"] = str(lease.gateway)
        entry["interface"] = index
        ips.append(entry)
    skipped = [line for step in out.plan.steps if isinstance(step, ConfigureInterface) for line in step.skipped_routes]
    routes = res.setdefault("routes", [])
    for gw in att.get("gateways") or []:
        if any(f" via {gw} " in line for line in skipped):
            continue
        routes.append({"dst": "::/0" if ":" in gw else "0.0.0.0/0", "gw": gw})
    dns = conf.raw.get("dns")
    if isinstance(dns, dict) and dns and not res.get("dns"):
        res["dns"] = dns
    ipam_result = getattr(reserve, "result", None) or {}
    if ipam_result.get("dns") and not res.get("dns"):
        res["dns"] = ipam_result["dns"]
    for key in ("interfaces", "ips", "routes"):
        if not res[key]:
            del res[key]
    return T.convert_result({"cniVersion": T.CURRENT, **res}, conf.version)


def _delegate(conf: Conf, command: str) -> None:
    if conf.ipam_type:
        from cnictl.cni.delegate import execute

        if not conf.env.get("CNI_PATH"):
            raise CniError(T.INVALID_ENV, "required env variables [CNI_PATH] missing", f"to find IPAM plugin {conf.ipam_type}")
        execute(conf.ipam_type, command, conf.env, conf.stdin)


def _del(conf: Conf) -> None:
    from cnictl import ops

    netns = conf.netns
    if netns and netns != "/" and "\0" not in netns:
        from cnictl.netns import NetnsRef

        try:
            NetnsRef.parse(netns)
        except CnictlError:
            netns = ""
    else:
        netns = ""
    try:
        _delegate(conf, "DEL")  # first, as the reference bridge does; the own teardown runs even if it fails
    finally:
        with _host(conf) as host:
            ops.detach_container(host, conf.network, conf.container_id, conf.ifname, netns or None)


def _check(conf: Conf) -> None:
    from cnictl import ops

    prev = _prev_result(conf)
    if not prev:
        raise CniError(T.INVALID_CONFIG, "required prevResult missing")
    _cni_args(conf)
    _check_netns(conf)
    with _host(conf) as host:
        _network(host, conf, create=False)
        att = ops.find_attachment(host, conf.network, conf.container_id, conf.ifname)
        if att is None:
            raise CniError(CHECK_FAILED, f"{conf.container_id}/{conf.ifname} is not attached to {conf.network}")
        interfaces = prev.get("interfaces", [])
        ours = {i for i, iface in enumerate(interfaces)
                if isinstance(iface, dict) and iface.get("name") == conf.ifname and iface.get("sandbox") == conf.netns}
        if not ours:
            raise CniError(CHECK_FAILED, f"prevResult lists no interface {conf.ifname} in {conf.netns}")
        addresses = _extra_addresses(att.addresses, [ip["address"] for ip in prev.get("ips", [])
                                                     if ip.get("interface") in ours])
        routes = list(dict.fromkeys((str(r["dst"]), str(r["gw"])) for r in prev.get("routes", [])
                      if isinstance(r, dict) and r.get("gw") in att.gateways and r.get("dst") in ("0.0.0.0/0", "::/0")))
        problems = ops.check_attachment(host, conf.network, att, conf.netns, addresses, routes,
                                        own_ipam=not conf.ipam_type)
    if problems:
        raise CniError(CHECK_FAILED, "CHECK failed", "; ".join(dict.fromkeys(problems)))  # each problem once
    _delegate(conf, "CHECK")


def _extra_addresses(recorded: list[str], listed: list[str]) -> list[str]:
    """The prevResult addresses the record does not list already (check_attachment checks the record's
    anyway): each address is checked, and reported, once. Compared as interfaces (2001:db8::1/64 == 2001:DB8::1/64)."""
    import ipaddress

    def key(cidr: str) -> object:
        try:
            return ipaddress.ip_interface(cidr)
        except ValueError:
            return cidr

    seen = {key(c) for c in recorded}
    out = []
    for cidr in listed:
        k = key(cidr)
        if k not in seen:
            seen.add(k)
            out.append(cidr)
    return out


def _valid_attachments(conf: Conf) -> set[tuple[str, str]] | None:
    for key in ("cni.dev/valid-attachments", "cni.dev/attachments"):
        if key not in conf.raw:
            continue
        value = conf.raw[key]
        if value is None:
            return set()
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise _bad(key, value, "give a list of {containerID, ifname} objects")
        out = set()
        for v in value:
            cid, ifname = v.get("containerID"), v.get("ifname")
            if not isinstance(cid, str) or not isinstance(ifname, str):
                raise _bad(key, v, "containerID and ifname must be strings")
            out.add((cid, ifname))
        return out
    return None  # no list at all: nothing is known to be stale


def _gc(conf: Conf) -> None:
    from cnictl import ops

    valid = _valid_attachments(conf)
    errors = []
    if valid is not None:
        with _host(conf) as host:
            try:
                ops.gc_network(host, conf.network, valid)
            except CnictlError as e:
                errors.append(e.one_line())
    try:
        _delegate(conf, "GC")
    except CniError as e:
        errors.append(f"IPAM plugin {conf.ipam_type}: {e.one_line()}")
    if errors:
        raise CniError(GC_INCOMPLETE, "GC was incomplete", "; ".join(errors))


def _kind_available(kind: str) -> bool:
    if os.path.isdir(f"/sys/module/{kind}"):
        return True
    release = os.uname().release
    for name in ("modules.builtin", "modules.dep"):
        try:
            with open(f"/lib/modules/{release}/{name}") as f:
                if f"/{kind}.ko" in f.read():
                    return True
        except OSError:
            continue
    return False


def _status(conf: Conf) -> None:
    from cnictl import ops
    from cnictl.store import Store

    with _host(conf) as host:
        net = Store(host.paths).find_network(conf.network)
        if net is None:
            req = _request(conf)
            if req is None:
                raise CniError(T.PLUGIN_NOT_AVAILABLE, f'network "{conf.network}" not found',
                               "create it with `cnictl net create`, or give its options in the configuration")
            try:
                ops.create_network(host, req, ops.RunOptions(dry_run=True))
            except CnictlError as e:
                raise CniError(T.PLUGIN_NOT_AVAILABLE, f'network "{conf.network}" cannot be created', e.one_line()) from None
            kind = req.driver
            link = req.parent if kind != "bridge" else None
        else:
            if _mismatches(net, conf.options):
                raise CniError(T.PLUGIN_NOT_AVAILABLE, f'network "{conf.network}" exists with other settings',
                               "; ".join(_mismatches(net, conf.options)))
            kind = net.driver
            link = net.bridge if kind == "bridge" else net.parent
        if link and not ops.link_exists(link):
            raise CniError(T.PLUGIN_NOT_AVAILABLE, f"interface {link} of network {conf.network} is missing")
        if not _kind_available(kind):
            raise CniError(T.PLUGIN_NOT_AVAILABLE, f"this kernel has no {kind} links", f"CONFIG_{kind.upper()} is not available")
    _delegate(conf, "STATUS")


def _version_reply(stdin: bytes) -> dict[str, Any]:
    version = T.CURRENT
    try:
        data = json.loads(stdin)
        if isinstance(data, dict) and data.get("cniVersion") in T.VERSIONS:
            version = data["cniVersion"]
    except (ValueError, RecursionError):
        pass
    return T.version_result(version)


# ---------------------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------------------
def _error(e: BaseException, version: str | None) -> dict[str, Any]:
    if isinstance(e, CniError):
        return e.to_cni(version)
    out: dict[str, Any] = {"cniVersion": version} if version else {}
    if isinstance(e, CnictlError):
        code = e.cni_code if e.cni_code >= 0 else T.INTERNAL
        out.update(code=code, msg=e.one_line())
    else:
        out.update(code=T.INTERNAL, msg="internal error", details=f"{type(e).__name__}: {e}"[:500])
    return out


def run(env: Mapping[str, str], stdin: bytes, stderr: TextIO | None = None) -> tuple[int, bytes]:
    """The plugin as a function: (exit status, stdout bytes). Never raises."""
    version: str | None = None
    try:
        cmd = _parse_env(env)
        if cmd == "VERSION":
            return 0, json.dumps(_version_reply(stdin)).encode()
        header = _header(cmd, stdin)
        version = header[2]  # from here on, every error object carries the request's cniVersion
        conf = _conf(cmd, env, stdin, header)
        result = {"ADD": _add, "DEL": _del, "CHECK": _check, "GC": _gc, "STATUS": _status}[cmd](conf)
        return 0, (json.dumps(result).encode() if result is not None else b"")
    except BaseException as e:  # noqa: BLE001 - every failure becomes one error object
        if stderr is not None and not isinstance(e, CnictlError):
            import traceback

            traceback.print_exception(e, file=stderr)
        try:
            return 1, json.dumps(_error(e, version)).encode()
        except Exception:  # noqa: BLE001
            return 1, b'{"code": 999, "msg": "internal error"}'


def main() -> None:
    """`cnictl-cni`: read stdin and the CNI_* environment, print one result or error object, exit 0 or 1."""
    from cnictl.cni.environ import caller_environ

    env = caller_environ()  # what the runtime passed: a delegated IPAM plugin gets it unchanged
    try:
        stdin = sys.stdin.buffer.read() if sys.stdin is not None else b""
    except OSError as e:
        if env.get("CNI_COMMAND") != "VERSION":
            sys.stdout.write(json.dumps({"code": T.IO_FAILURE, "msg": "error reading from stdin", "details": str(e)}))
            sys.stdout.flush()
            sys.exit(1)
        stdin = b""
    code, out = run(env, stdin, sys.stderr if env.get("CNICTL_DEBUG") else None)
    if out:
        sys.stdout.buffer.write(out)
        sys.stdout.buffer.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
