"""CNI protocol values shared by the runtime (`cnictl cni add ...`) and the plugin (`cnictl-cni`): versions,
name and interface validation, CNI_ARGS, error objects, and Result conversion between spec versions.

Pure logic, standard library only (imported on the plugin's hot path).

    >>> convert_result({"cniVersion": "1.0.0", "ips": [{"address": "10.1.0.5/16"}]}, "0.4.0")["ips"]
    [{'address': '10.1.0.5/16', 'version': '4'}]
    >>> parse_args("IgnoreUnknown=1;IP=10.1.0.9")
    [('IgnoreUnknown', '1'), ('IP', '10.1.0.9')]
"""

from __future__ import annotations

from cnictl.errors import CniError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    import re
    from typing import Any

VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
CURRENT = "1.1.0"
NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$"
"""CNI's name rule (libcni cniValidNameChars) for container IDs and CNI network names; no length limit. cnictl's
own names (networks, namespaces) are the stricter `cnictl.model.NAME_RE` (at most 63 characters). `NAME_RE` is
it compiled (on first use: the plugin checks names with `is_name`, so that it need not import re)."""
_NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_REST = _NAME_FIRST | frozenset("_.-")
if TYPE_CHECKING:
    NAME_RE: re.Pattern[str]


def is_name(text: str) -> bool:
    """NAME_RE.fullmatch(text) is not None."""
    return bool(text) and text[0] in _NAME_FIRST and set(text) <= _NAME_REST


def __getattr__(name: str) -> object:
    if name == "NAME_RE":
        import re

        value = globals()[name] = re.compile(NAME_PATTERN)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# well-known error codes (SPEC.md, Error)
UNKNOWN, INCOMPATIBLE_VERSION, UNSUPPORTED_FIELD, UNKNOWN_CONTAINER = 0, 1, 2, 3
INVALID_ENV, IO_FAILURE, DECODING_FAILURE, INVALID_CONFIG, INVALID_NETNS = 4, 5, 6, 7, 8
TRY_AGAIN_LATER, PLUGIN_NOT_AVAILABLE, LIMITED_CONNECTIVITY, INTERNAL = 11, 50, 51, 999


def version_tuple(v: Any) -> tuple[int, int, int]:
    """"1.0.0" -> (1, 0, 0); anything else raises CniError code 1 (as libcni's semver parse)."""
    if not isinstance(v, str):
        raise CniError(INCOMPATIBLE_VERSION, "invalid version", f"{v!r} is not a string")
    parts = v.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise CniError(INCOMPATIBLE_VERSION, "invalid version", f'"{v}" is not MAJOR.MINOR.PATCH')
    return int(parts[0]), int(parts[1]), int(parts[2])


def at_least(v: str, minimum: str) -> bool:
    return version_tuple(v) >= version_tuple(minimum)


def validate_container_id(cid: str) -> str:
    if not cid:
        raise CniError(INVALID_ENV, "missing containerID")
    if not is_name(cid):
        raise CniError(INVALID_ENV, "invalid characters in containerID", cid)
    return cid


def validate_network_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise CniError(INVALID_CONFIG, "missing network name")
    if not is_name(name):
        raise CniError(INVALID_CONFIG, "invalid characters found in network name", name)
    return name


def validate_ifname(name: str) -> str:
    if not name:
        raise CniError(INVALID_ENV, "interface name is empty")
    if len(name.encode()) > 15:
        raise CniError(INVALID_ENV, "interface name is too long", f"interface name should be less than 16 characters: {name}")
    if name in (".", ".."):
        raise CniError(INVALID_ENV, "interface name is . or ..")
    if any(c in name for c in "/:") or any(c.isspace() for c in name):
        raise CniError(INVALID_ENV, "interface name contains / or : or whitespace characters", name)
    return name


def validate_plugin_type(kind: Any) -> str:
    """A plugin `type` names a file in CNI_PATH: never a path (CVE-2021-20206)."""
    if not isinstance(kind, str) or not kind:
        raise CniError(INVALID_CONFIG, "missing type")
    if "/" in kind or kind in (".", ".."):
        raise CniError(INVALID_CONFIG, "invalid plugin name", f'"{kind}" may not contain "/"')
    return kind


# ---- CNI_ARGS ------------------------------------------------------------------------------------
def parse_args(text: str) -> list[tuple[str, str]]:
    """`K=V;K2=V2` as libcni reads it: empty = none; every pair must split into exactly two parts."""
    if not text:
        return []
    out = []
    for pair in text.split(";"):
        kv = pair.split("=")
        if len(kv) != 2:
            raise CniError(INVALID_ENV, "ARGS: invalid pair", f'"{pair}"')
        out.append((kv[0], kv[1]))
    return out


def parse_args_strict(text: str) -> list[tuple[str, str]]:
    """cnitool's parse of the user's CNI_ARGS: as parse_args, and neither key nor value may be empty."""
    pairs = parse_args(text)
    for k, v in pairs:
        if not k or not v:
            raise CniError(INVALID_ENV, "invalid CNI_ARGS pair", f'"{k}={v}"')
    return pairs


def stringify_args(pairs: list[tuple[str, str]] | list[list[str]]) -> str:
    return ";".join(f"{k}={v}" for k, v in pairs)


def ignore_unknown(pairs: list[tuple[str, str]]) -> bool:
    return any(k == "IgnoreUnknown" and v.lower() in ("1", "true") for k, v in pairs)


def check_known_args(pairs: list[tuple[str, str]], known: tuple[str, ...]) -> dict[str, str]:
    """The pairs as a dict; unknown keys are an error unless IgnoreUnknown is 1/true."""
    unknown = [f"{k}={v}" for k, v in pairs if k not in known and k != "IgnoreUnknown"]
    if unknown and not ignore_unknown(pairs):
        raise CniError(INVALID_ENV, "ARGS: unknown args", str(unknown))
    return {k: v for k, v in pairs}


# ---- results -------------------------------------------------------------------------------------
def _family(cidr: str) -> str:
    return "6" if ":" in cidr else "4"


def normalise_result(result: Any) -> dict[str, Any]:
    """Any spec version's Result -> the 1.1.0 shape (without cniVersion). Raises CniError code 6 on nonsense."""
    if not isinstance(result, dict):
        raise CniError(DECODING_FAILURE, "failed to decode result", "not a JSON object")
    version = result.get("cniVersion") or "0.1.0"
    try:
        vt = version_tuple(version)
    except CniError as e:
        raise CniError(DECODING_FAILURE, "failed to decode result", e.details) from None
    import ipaddress  # here, not at the top: VERSION and the argument checks do not need it

    out: dict[str, Any] = {}
    try:
        if vt < (0, 3, 0):  # 0.1.0 / 0.2.0: ip4 / ip6 objects
            ips, routes = [], []
            for fam in ("ip4", "ip6"):
                block = result.get(fam)
                if not block:
                    continue
                entry = {"address": str(ipaddress.ip_interface(block["ip"]))}
                if block.get("gateway"):
                    entry["gateway"] = str(ipaddress.ip_address(block["gateway"]))
                ips.append(entry)
                routes += [dict(r) for r in block.get("routes") or []]
            if ips:
                out["ips"] = ips
            if routes:
                out["routes"] = routes
        else:
            for key in ("interfaces", "routes"):
                if result.get(key):
                    out[key] = [dict(x) for x in result[key]]
            if result.get("ips"):
                ips = []
                for ip in result["ips"]:
                    entry = {k: v for k, v in ip.items() if k != "version"}
                    str(ipaddress.ip_interface(entry["address"]))  # validates
                    ips.append(entry)
                out["ips"] = ips
        if result.get("dns"):
            import copy

            out["dns"] = copy.deepcopy(result["dns"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CniError(DECODING_FAILURE, "failed to decode result", f"{type(e).__name__}: {e}") from None
    return out


_V11_INTERFACE = ("mtu", "socketPath", "pciID")
_V11_ROUTE = ("mtu", "advmss", "priority", "table", "scope")


def convert_result(result: Any, to_version: str) -> dict[str, Any]:
    """A Result in the shape of *to_version* (CHECKLIST 45): 0.3.x/0.4.0 gain ips[].version, versions before
    1.1.0 lose the 1.1 fields, 0.1.0/0.2.0 become ip4/ip6 (one address per family, else CniError code 1)."""
    norm = normalise_result(result)
    vt = version_tuple(to_version)
    if to_version not in VERSIONS:
        raise CniError(INCOMPATIBLE_VERSION, "incompatible CNI versions", f'cannot convert a result to "{to_version}"')
    if vt < (1, 1, 0):
        for iface in norm.get("interfaces", []):
            for k in _V11_INTERFACE:
                iface.pop(k, None)
        for route in norm.get("routes", []):
            for k in _V11_ROUTE:
                route.pop(k, None)
    if vt >= (1, 0, 0):
        return {"cniVersion": to_version, **norm}
    if vt >= (0, 3, 0):
        for ip in norm.get("ips", []):
            ip["version"] = _family(ip["address"])
        return {"cniVersion": to_version, **norm}
    out: dict[str, Any] = {"cniVersion": to_version}
    routes = norm.get("routes", [])
    for fam, key in (("4", "ip4"), ("6", "ip6")):
        ips = [ip for ip in norm.get("ips", []) if _family(ip["address"]) == fam]
        if len(ips) > 1:
            raise CniError(INCOMPATIBLE_VERSION, "incompatible CNI versions",
                           f"CNI version {to_version} does not support more than 1 address per family")
        if ips:
            block: dict[str, Any] = {"ip": ips[0]["address"]}
            if ips[0].get("gateway"):
                block["gateway"] = ips[0]["gateway"]
            fam_routes = [{k: v for k, v in r.items() if k in ("dst", "gw")} for r in routes if _family(r["dst"]) == fam]
            if fam_routes:
                block["routes"] = fam_routes
            out[key] = block
    if norm.get("dns"):
        out["dns"] = norm["dns"]
    return out


def version_result(cni_version: str, supported: tuple[str, ...] = VERSIONS) -> dict[str, Any]:
    return {"cniVersion": cni_version, "supportedVersions": list(supported)}
