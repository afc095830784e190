"""What this kernel and its firewall tools can do for cnictl, probed in a throwaway network namespace.

`probe_features` creates `cnictl-doctor-<pid>-<hex>`, tries there veth, bridge, macvlan, ipvlan, 802.1Q
vlan and vxlan links, a tbf and an htb qdisc, an nftables table with forward and nat chains and
`iptables -t nat -L`, and removes the namespace before returning (also on Ctrl-C). The rules that turn
those results into checks (`link_checks`, `qdisc_checks`, `firewall_checks`) are pure.

    >>> from cnictl.netlink.probe import ProbeResult
    >>> [c.status for c in qdisc_checks(ProbeResult(qdiscs={"tbf": 0, "htb": 2}))]
    ['ok', 'missing']
"""

from __future__ import annotations

import errno as errno_mod
import os
import re

from cnictl.doctor.check import FAIL, MISSING, OK, WARN, Check, errtext
from cnictl.errors import CnictlError
from cnictl.record import field, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Sequence

    from cnictl.host import Host
    from cnictl.model import Network
    from cnictl.netlink.probe import ProbeResult

PROBE_PREFIX = "cnictl-doctor-"
PROBE_RE = re.compile(rf"{PROBE_PREFIX}(\d+)-[0-9a-f]+")



# Link kinds: the core ones fail doctor when missing; the optional ones say what they disable.
CORE_KINDS = {"veth": "every attachment (the container's link)", "bridge": "every bridge network"}
OPTIONAL_KINDS = {
    "macvlan": "macvlan networks and their host-access shim",
    "ipvlan": "ipvlan networks",
    "vlan": "networks on an 802.1Q VLAN sub-interface",
    "vxlan": "vxlan overlay networks",
}
LINK_LABEL = {"vlan": "802.1Q vlan"}
MODULE = {"vlan": "8021q"}
QDISC_OPTION = {"tbf": ("CONFIG_NET_SCH_TBF", "sch_tbf"), "htb": ("CONFIG_NET_SCH_HTB", "sch_htb")}
QDISC_USE = "bandwidth limits with tc (cnictl's networks work without)"


# ---------------------------------------------------------------------------------------
# kernel and firewall features (pure: from probe results)
# ---------------------------------------------------------------------------------------
def link_checks(result: ProbeResult) -> list[Check]:
    from cnictl.netlink.rtnl import KERNEL_OPTION

    out = []
    for kind in (*CORE_KINDS, *OPTIONAL_KINDS):
        code = result.links.get(kind)
        core = kind in CORE_KINDS
        label = LINK_LABEL.get(kind, kind)
        hint = f"enable {KERNEL_OPTION[kind]} (modprobe {MODULE.get(kind, kind)})"
        use = CORE_KINDS.get(kind) or OPTIONAL_KINDS[kind]
        name = f"kernel.{kind}"
        if code == 0:
            out.append(Check(name, OK, f"created a {label} link in a throwaway namespace"))
        elif code is None:
            out.append(Check(name, WARN, f"not tried: a {label} link needs the veth pair as its parent"))
        elif code == errno_mod.EOPNOTSUPP:
            detail = f"this kernel cannot create {label} links (EOPNOTSUPP); needed for {use}"
            out.append(Check(name, FAIL if core else MISSING, detail, hint))
        else:
            cmd = result.commands.get(kind, kind)
            out.append(Check(name, FAIL if core else WARN, f"{cmd}: {errtext(code)}"))
    return out


def qdisc_checks(result: ProbeResult) -> list[Check]:
    out = []
    for kind, (option, module) in QDISC_OPTION.items():
        code = result.qdiscs.get(kind)
        name = f"kernel.qdisc.{kind}"
        if code == 0:
            out.append(Check(name, OK, f"added a root {kind} qdisc on a veth in a throwaway namespace"))
        elif code is None:
            out.append(Check(name, WARN, f"not tried: the {kind} qdisc needs the veth pair"))
        elif code in (errno_mod.ENOENT, errno_mod.EOPNOTSUPP):
            out.append(Check(name, MISSING, f"this kernel has no {kind} qdisc; needed for {QDISC_USE}",
                             f"enable {option} (modprobe {module})"))
        else:
            out.append(Check(name, WARN, f"{result.commands.get(kind, kind)}: {errtext(code)}"))
    return out


@record
class IptablesFacts:
    """What the iptables probe found: the selected binary's version, the variants installed, and the
    error of `iptables -t nat -L` in the throwaway namespace (None: it worked)."""

    version: str | None = None
    variants: list[str] = field(default_factory=list)
    error: str | None = None


def firewall_checks(nft_error: str | None, nft_hint: str | None, ipt: IptablesFacts,
                    networks: Sequence[Network]) -> list[Check]:
    """nftables and iptables: either one is enough, unless a network already uses the broken one."""
    ipt_error = ipt.error if ipt.version is not None else "iptables is not installed"
    nft_users = sorted(n.name for n in networks if n.firewall == "nftables")
    ipt_users = sorted(n.name for n in networks if n.firewall == "iptables")

    def status(broken_users: list[str], other_works: bool) -> str:
        return FAIL if broken_users or not other_works else MISSING

    out = []
    if nft_error is None:
        out.append(Check("firewall.nftables", OK, "libnftables added and deleted a table with forward and nat chains "
                                                  "in a throwaway namespace"))
    else:
        why = f"; used by network(s) {', '.join(nft_users)}" if nft_users else ""
        alt = "" if nft_users else " (or create networks with --firewall iptables)"
        out.append(Check("firewall.nftables", status(nft_users, ipt_error is None), f"{nft_error}{why}",
                         (nft_hint or "install libnftables1 and its Python binding; enable CONFIG_NF_TABLES") + alt))
    others = ", ".join(ipt.variants)
    if ipt_error is None:
        detail = f"{ipt.version}; `iptables -t nat -L` works in a throwaway namespace"
        out.append(Check("firewall.iptables", OK, detail + (f"; installed: {others}" if others else "")))
    else:
        why = f"; used by network(s) {', '.join(ipt_users)}" if ipt_users else ""
        hint = "apt-get install iptables (needed only for --firewall iptables)" if ipt.version is None else \
            "check the iptables installation and the kernel's netfilter options"
        out.append(Check("firewall.iptables", status(ipt_users, nft_error is None), f"{ipt_error}{why}", hint))
    return out


# ---------------------------------------------------------------------------------------
# gathering (touches the kernel and the state directory)
# ---------------------------------------------------------------------------------------
def probe_name() -> str:
    import secrets

    return f"{PROBE_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"


def _iptables_facts() -> IptablesFacts:
    """`iptables -V`, which variants exist, and `iptables -t nat -L` in the current namespace."""
    import shutil
    import subprocess

    facts = IptablesFacts(variants=[v for v in ("iptables-nft", "iptables-legacy") if shutil.which(v)])
    exe = shutil.which("iptables")
    if exe is None:
        return facts
    try:
        v = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=10)
        facts.version = (v.stdout.strip() or v.stderr.strip() or "iptables").splitlines()[0]
        p = subprocess.run([exe, "-w", "5", "-t", "nat", "-L", "-n"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        facts.version = facts.version or "iptables"
        facts.error = f"iptables -t nat -L: {e}"
        return facts
    if p.returncode != 0:
        facts.error = f"iptables -t nat -L: {(p.stderr.strip().splitlines() or ['failed'])[-1]}"
    return facts


def _nft_probe() -> tuple[str | None, str | None]:
    from cnictl.firewall.nftables import probe

    try:
        return probe(), None
    except CnictlError as e:
        return e.message, e.hint


def probe_features(host: Host, networks: Sequence[Network]) -> list[Check]:
    """Kernel link kinds, qdiscs and both firewall backends, tried in a throwaway namespace that is
    removed before returning (also when interrupted)."""
    from cnictl import netns
    from cnictl.netlink.probe import probe
    from cnictl.netlink.rtnl import open_socket
    from cnictl.plan import deferred_signals

    name = probe_name()
    try:
        path = netns.create(name)
    except CnictlError as e:
        return [Check("probe.netns", FAIL, f"cannot create a throwaway namespace {name}: {e.message}",
                      "doctor needs root and a writable /run/netns")]
    checks: list[Check] = []
    try:
        with netns.entered(path, host.home_fd()):
            sock = open_socket()
            try:
                result = probe(sock)
            finally:
                sock.close()
            nft_error, nft_hint = _nft_probe()
            ipt = _iptables_facts()
        checks += link_checks(result) + qdisc_checks(result) + firewall_checks(nft_error, nft_hint, ipt, networks)
    finally:
        with deferred_signals():
            try:
                netns.remove(name, missing_ok=True)
            except (CnictlError, OSError) as e:
                checks.append(Check("probe.netns", FAIL, f"could not remove the throwaway namespace {name}: {e}",
                                    f"ip netns del {name}"))
    return checks
