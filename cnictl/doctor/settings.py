"""Settings of the namespace cnictl acts on: IPv4/IPv6 forwarding, br_netfilter, and whether cnictl's
own firewall rules for its networks are in place (what `cnictl fw check` reports).

    >>> forwarding_checks("1", "0", [], "cnictl")[0].detail
    'on (net.ipv4.conf.all.forwarding=1)'
"""

from __future__ import annotations

import os

from cnictl.doctor.check import FAIL, OK, WARN, Check, cnictl_prefix
from cnictl.drivers import get_driver
from cnictl.errors import CnictlError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Sequence

    from cnictl.doctor.leftovers import Known
    from cnictl.host import Host
    from cnictl.model import Network

# ---------------------------------------------------------------------------------------
# host settings (pure: from values read in the host namespace)
# ---------------------------------------------------------------------------------------
def forwarding_checks(v4: str | None, v6: str | None, networks: Sequence[Network], cnictl: str) -> list[Check]:
    out = []
    for fam, value, needs, flag in (("ipv4", v4, "has_ipv4", ""), ("ipv6", v6, "has_ipv6", " --ipv6")):
        key = f"net.{fam}.conf.all.forwarding"
        # only some networks route through the host (bridge); macvlan/ipvlan containers use the LAN's router
        users = sorted(n.name for n in networks if get_driver(n.driver).needs_forwarding(n) and getattr(n, needs))
        name = f"sysctl.{fam}_forwarding"
        if value is None:
            out.append(Check(name, WARN, f"{key} cannot be read in this namespace"))
        elif value == "1":
            out.append(Check(name, OK, f"on ({key}=1)"))
        elif users:
            out.append(Check(name, FAIL, f"off ({key}={value}), but network(s) {', '.join(users)} route traffic out: "
                                         "containers cannot reach beyond the host", f"{cnictl} forward enable{flag}"))
        else:
            out.append(Check(name, OK, f"off ({key}={value}); no network needs it yet (net create turns it on)"))
    return out


def br_netfilter_check(loaded: bool, call_iptables: str | None, networks: Sequence[Network]) -> Check:
    name = "br_netfilter"
    if not loaded:
        return Check(name, OK, "not loaded: bridged frames skip the IP firewall hooks")
    if call_iptables != "1":
        return Check(name, OK, f"loaded, net.bridge.bridge-nf-call-iptables={call_iptables}")
    no_icc = sorted(n.name for n in networks if get_driver(n.driver).bridged_without_icc(n))
    detail = ("loaded, net.bridge.bridge-nf-call-iptables=1: traffic within a bridge also passes the IP firewall "
              "hooks (cnictl's rules allow it)")
    if no_icc:
        return Check(name, WARN, f"{detail}; containers of the --no-icc network(s) {', '.join(no_icc)} cannot reach "
                                 "that network's published ports through a host address",
                     "sysctl -w net.bridge.bridge-nf-call-iptables=0, if nothing else on this host needs it")
    return Check(name, OK, detail)


def _read_sysctl(key: str) -> str | None:
    from cnictl import sysctl

    try:
        return sysctl.read(key)
    except CnictlError:
        return None


def host_checks(host: Host, known: Known) -> list[Check]:
    """Forwarding, br_netfilter and cnictl's rules of its networks, in the host namespace."""
    checks = forwarding_checks(_read_sysctl("net.ipv4.conf.all.forwarding"),
                               _read_sysctl("net.ipv6.conf.all.forwarding"), known.networks, cnictl_prefix(host))
    checks.append(br_netfilter_check(os.path.isdir("/proc/sys/net/bridge"),
                                     _read_sysctl("net.bridge.bridge-nf-call-iptables"), known.networks))
    if known.networks:
        from cnictl import ops

        try:
            r = ops.fw_check(host)
        except CnictlError as e:
            checks.append(Check("firewall.rules", FAIL, f"cannot check cnictl's rules: {e.one_line()}"))
        else:
            checks += fw_check_checks(r.problems, r.networks, cnictl_prefix(host))
    return checks


def fw_check_checks(problems: Sequence[str], networks: int, cnictl: str) -> list[Check]:
    """`cnictl fw check`'s problems as two checks: cnictl's own rules (fw reload restores them) and other
    firewall rules in the way (drop policies, legacy iptables rules: cnictl does not touch those)."""
    problems = [p for p in problems if "forwarding is off" not in p]  # the sysctl.* checks report that
    foreign = [p for p in problems if "policy" in p or "iptables-legacy" in p]
    own = [p for p in problems if p not in foreign]
    out = [Check("firewall.rules", FAIL, "; ".join(own), f"{cnictl} fw reload") if own else
           Check("firewall.rules", OK, f"the rules of {networks} network(s) are in place")]
    if foreign:
        out.append(Check("firewall.foreign", FAIL, "; ".join(foreign),
                         "let cnictl's bridges through those rules, or remove them (see docs/ports-and-firewall.md)"))
    return out
