"""The plugin's answers: the ADD result, the VERSION reply and the error object, in the request's cniVersion.

    >>> version_reply(b'{"cniVersion": "0.4.0"}')["cniVersion"]
    '0.4.0'
    >>> error_object(ValueError("boom"), "1.0.0")["code"]
    999
"""

from __future__ import annotations

from cnictl import jsonlite as json  # json's loads/dumps without importing json (start-up time)
from cnictl.cni import types as T
from cnictl.errors import CnictlError, CniError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from cnictl.cni.plugin_conf import Conf
    from cnictl.ipam.steps import ReserveIP
    from cnictl.model import Network
    from cnictl.ops import Outcome

def result(conf: Conf, net: Network, out: Outcome, reserve: ReserveIP | None, prev: dict[str, Any] | None) -> dict[str, Any]:
    """The ADD result: prevResult (if any) plus this plugin's interfaces, addresses and routes."""
    from cnictl.netlink.steps import ConfigureInterface

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


def extra_addresses(recorded: list[str], listed: list[str]) -> list[str]:
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


def version_reply(stdin: bytes) -> dict[str, Any]:
    version = T.CURRENT
    try:
        data = json.loads(stdin) if stdin.strip() else None  # nothing to decode: not even the json error path
        if isinstance(data, dict) and data.get("cniVersion") in T.VERSIONS:
            version = data["cniVersion"]
    except (ValueError, RecursionError):
        pass
    return T.version_result(version)


def error_object(e: BaseException, version: str | None) -> dict[str, Any]:
    if isinstance(e, CniError):
        return e.to_cni(version)
    out: dict[str, Any] = {"cniVersion": version} if version else {}
    if isinstance(e, CnictlError):
        code = e.cni_code if e.cni_code >= 0 else T.INTERNAL
        out.update(code=code, msg=e.one_line())
    else:
        out.update(code=T.INTERNAL, msg="internal error", details=f"{type(e).__name__}: {e}"[:500])
    return out
