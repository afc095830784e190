"""`cnictl doctor`: what this host can do for cnictl, and what cnictl left behind without a record.

Three groups of checks, each one record {"check", "status", "detail", "hint"}:

- kernel and firewall features, probed in a throwaway network namespace (`cnictl-doctor-<pid>-<hex>`,
  created and removed by this run, also on Ctrl-C): veth, bridge, macvlan, ipvlan, 802.1Q vlan and
  vxlan links, a tbf and an htb qdisc, an nftables table with forward and nat chains, and
  `iptables -t nat -L`. Nothing is ever created in the namespace cnictl acts on;
- settings of the host namespace: IPv4/IPv6 forwarding, br_netfilter, and cnictl's own firewall rules
  for its networks (what `cnictl fw check` reports);
- leftovers: links, nftables chains, iptables rules and IPAM reservations that look like cnictl's but
  belong to no network or attachment record. Each comes with the exact command that removes it.

Status: `ok`; `missing` (an optional feature is absent: the detail says what it disables); `warn`
(worth knowing, nothing to repair); `fail` (something is wrong). The exit rule is: everything is
fine exactly when no check has status `fail`. A missing core feature (veth or bridge links, or both
firewall backends) is `fail`; optional ones (macvlan, ipvlan, vlan, vxlan, tc qdiscs, one of the two
firewall backends when the other works and no network uses it) are `missing`.

    >>> summary([Check("kernel.veth", OK, "created"), Check("kernel.vlan", MISSING, "absent")])
    '2 checks: 1 ok, 1 missing (optional); nothing is wrong'
"""

from __future__ import annotations

import contextlib
import errno as errno_mod
import os
import re
import secrets
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnictl.errors import CnictlError, cli
from cnictl.model import Attachment, Network, short_hash

if TYPE_CHECKING:
    from cnictl.host import Host
    from cnictl.netlink.probe import ProbeResult

OK, MISSING, WARN, FAIL = "ok", "missing", "warn", "fail"
STATUSES = (OK, MISSING, WARN, FAIL)

PROBE_PREFIX = "cnictl-doctor-"
PROBE_RE = re.compile(rf"{PROBE_PREFIX}(\d+)-[0-9a-f]+")
HOST_ACCESS_ID = "cnictl-host-access"  # = drivers.macvlan.HOST_ACCESS_ID: the shim's IPAM owner, never a leftover
HOST_VETH_RE = re.compile(r"^cni[0-9a-f]{12}$")  # model.host_ifname
SHIM_PREFIX = "mvh-"  # macvlan host-access shim links

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


@dataclass(frozen=True)
class Check:
    """One finding: `check` is a dotted name (kernel.macvlan, leftover.link.cni0123456789ab, ...)."""

    check: str
    status: str
    detail: str
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "detail": self.detail, "hint": self.hint}


def healthy(checks: Iterable[Check]) -> bool:
    """The exit rule: nothing is wrong when no check failed (missing and warn do not count)."""
    return not any(c.status == FAIL for c in checks)


def summary(checks: Sequence[Check]) -> str:
    counts = {s: sum(1 for c in checks if c.status == s) for s in STATUSES}
    parts = [f"{counts[OK]} ok"]
    if counts[MISSING]:
        parts.append(f"{counts[MISSING]} missing (optional)")
    if counts[WARN]:
        parts.append(f"{counts[WARN]} warn")
    if counts[FAIL]:
        parts.append(f"{counts[FAIL]} fail")
    verdict = "nothing is wrong" if not counts[FAIL] else f"{counts[FAIL]} problem(s): see the hints"
    return f"{len(checks)} checks: {', '.join(parts)}; {verdict}"


def _errtext(code: int) -> str:
    return f"{os.strerror(code)} ({errno_mod.errorcode.get(code, code)})"


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
            out.append(Check(name, FAIL if core else WARN, f"{cmd}: {_errtext(code)}"))
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
            out.append(Check(name, WARN, f"{result.commands.get(kind, kind)}: {_errtext(code)}"))
    return out


@dataclass
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
# host settings (pure: from values read in the host namespace)
# ---------------------------------------------------------------------------------------
def forwarding_checks(v4: str | None, v6: str | None, networks: Sequence[Network], cnictl: str) -> list[Check]:
    out = []
    for fam, value, needs, flag in (("ipv4", v4, "has_ipv4", ""), ("ipv6", v6, "has_ipv6", " --ipv6")):
        key = f"net.{fam}.conf.all.forwarding"
        # only bridge networks route through the host; macvlan/ipvlan containers use the LAN's router
        users = sorted(n.name for n in networks if n.driver == "bridge" and not n.internal and getattr(n, needs))
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
    no_icc = sorted(n.name for n in networks if not n.icc)
    detail = ("loaded, net.bridge.bridge-nf-call-iptables=1: traffic within a bridge also passes the IP firewall "
              "hooks (cnictl's rules allow it)")
    if no_icc:
        return Check(name, WARN, f"{detail}; containers of the --no-icc network(s) {', '.join(no_icc)} cannot reach "
                                 "that network's published ports through a host address",
                     "sysctl -w net.bridge.bridge-nf-call-iptables=0, if nothing else on this host needs it")
    return Check(name, OK, detail)


# ---------------------------------------------------------------------------------------
# leftovers (pure: from what the host namespace and the state directory hold)
# ---------------------------------------------------------------------------------------
@dataclass
class Known:
    """What the state records own."""

    networks: list[Network]
    attachments: list[Attachment]

    @property
    def names(self) -> set[str]:
        return {n.name for n in self.networks}

    @property
    def bridges(self) -> set[str]:
        return {n.bridge for n in self.networks}

    @property
    def host_ifnames(self) -> set[str]:
        return {a.host_ifname for a in self.attachments}

    def shim_known(self, name: str) -> bool:
        """A host-access shim link belongs to a network when the record names it, or when its name is
        `mvh-` + the network's name (possibly cut short) or + a prefix of its hash. Generous on purpose:
        an unknown shim is reported only when no network could own it."""
        suffix = name[len(SHIM_PREFIX):]
        for net in self.networks:
            if name in set(_strings(net.to_dict())):
                return True
            if suffix and (net.name.startswith(suffix) or short_hash(net.name).startswith(suffix)):
                return True
        return False


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def leftover_links(links: Sequence[dict[str, Any]], known: Known, fw_bridges: set[str], ip: str) -> list[Check]:
    """cni<12 hex> veth ends and mvh-* shims without a record; bridges only when cnictl's evidence names them.

    A `br-*` bridge alone proves nothing (docker's bridges are br-<12 hex> too), so an unknown bridge
    is reported only when cnictl's firewall rules still name it or a leftover cnictl veth is its port.
    """
    names = {link["index"]: str(link["ifname"]) for link in links}
    out = []
    stray_ports: dict[int, list[str]] = {}
    for link in links:
        name = str(link["ifname"])
        if HOST_VETH_RE.fullmatch(name) and name not in known.host_ifnames:
            master = link.get("master")
            where = f"a port of {names.get(master, master)}" if master else "not a bridge port"
            if master:
                stray_ports.setdefault(master, []).append(name)
            out.append(Check(f"leftover.link.{name}", FAIL,
                             f"host end of a cnictl veth pair ({where}) with no attachment record",
                             f"{ip} link del {name}"))
        elif name.startswith(SHIM_PREFIX) and not known.shim_known(name):
            out.append(Check(f"leftover.link.{name}", FAIL,
                             f"host-access shim ({link.get('kind') or 'link'}) of no known network",
                             f"{ip} link del {name}"))
    for link in links:
        name = str(link["ifname"])
        if link.get("kind") != "bridge" or name in known.bridges:
            continue
        evidence = []
        if name in fw_bridges:
            evidence.append("cnictl's firewall rules name it")
        if link["index"] in stray_ports:
            evidence.append(f"its port(s) {', '.join(stray_ports[link['index']])} are leftover cnictl veths")
        if evidence:
            out.append(Check(f"leftover.link.{name}", FAIL, f"bridge of no known network; {'; '.join(evidence)}",
                             f"{ip} link del {name}"))
    return out


INFRA_CHAINS = ("ports-pre", "ports-out", "ports-post")


def _rule_bridge(rule: dict[str, Any]) -> str | None:
    """The interface a cnictl rule matches (meta iifname/oifname == "NAME"), if any."""
    for expr in rule.get("expr", []):
        m = expr.get("match") if isinstance(expr, dict) else None
        if (m and m.get("op") == "==" and isinstance(m.get("right"), str) and not m["right"].startswith("@")
                and isinstance(m.get("left"), dict) and m["left"].get("meta", {}).get("key") in ("iifname", "oifname")):
            return str(m["right"])
    return None


def nft_bridges(table: dict[str, Any] | None) -> set[str]:
    """Every bridge named in table inet cnictl: set elements and rule matches."""
    if table is None:
        return set()
    found = {e for e in [*table.get("elements", []), *table.get("open", [])] if isinstance(e, str)}
    found |= {b for r in table.get("rules", []) if (b := _rule_bridge(r))}
    return found


def leftover_nft(table: dict[str, Any] | None, known: Known, nft: str) -> list[Check]:
    """Chains (and set elements) of table inet cnictl that belong to no network using nftables.

    *table* is NftablesBackend.table(): {"chains": {name: ...}, "rules": [...], "elements": [...], "open": [...]};
    *nft* is the command prefix (`ip netns exec HOST nft` or `nft`).
    """
    if table is None:
        return []
    users = [n for n in known.networks if n.firewall == "nftables"]
    if not users:
        listed = ", ".join(sorted(table.get("chains", {}))) or "none"
        return [Check("leftover.nft.table", FAIL, f"table inet cnictl exists but no network uses nftables (chains: {listed})",
                      f"{nft} delete table inet cnictl")]
    mine = {c for n in users for c in (f"{n.name}-fwd", f"{n.name}-nat")}
    own_bridges = {n.bridge for n in users}
    groups: dict[str, list[str]] = {}
    for chain in sorted(table.get("chains", {})):
        if chain in mine or chain in INFRA_CHAINS:
            continue
        net = chain.rsplit("-", 1)[0] if chain.endswith(("-fwd", "-nat")) else chain
        groups.setdefault(net, []).append(chain)
    stray = [e for e in [*table.get("elements", [])] if isinstance(e, str) and e not in own_bridges]
    stray_open = [e for e in table.get("open", []) if isinstance(e, str) and e not in own_bridges]
    out = []
    for net, chains in groups.items():
        bridges = {b for r in table.get("rules", []) if r.get("chain") in chains and (b := _rule_bridge(r))}
        cmds = [f"delete chain inet cnictl {c}" for c in chains]
        for b in sorted(bridges):
            if b in stray:
                cmds.append(f'delete element inet cnictl bridges {{ "{b}" }}')
                stray.remove(b)
            if b in stray_open:
                cmds.append(f'delete element inet cnictl open {{ "{b}" }}')
                stray_open.remove(b)
        on = f" (bridge {', '.join(sorted(bridges))})" if bridges else ""
        out.append(Check(f"leftover.nft.{net}", FAIL,
                         f"chain(s) {', '.join(chains)} in table inet cnictl for network {net}{on}, which has no record",
                         f"{nft} {shlex.quote('; '.join(cmds))}"))
    if stray or stray_open:
        cmds = [f'delete element inet cnictl bridges {{ "{b}" }}' for b in stray]
        cmds += [f'delete element inet cnictl open {{ "{b}" }}' for b in stray_open]
        out.append(Check("leftover.nft.sets", FAIL,
                         f"bridge(s) {', '.join(sorted({*stray, *stray_open}))} in cnictl's isolation sets belong to "
                         "no network", f"{nft} {shlex.quote('; '.join(cmds))}"))
    return out


def _iface_args(line: str) -> set[str]:
    words = line.split()
    return {words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-i", "-o")}


def iptables_bridges(listings: dict[str, list[str]]) -> set[str]:
    return {b for lines in listings.values() for ln in lines if ln.startswith("-A CNICTL") for b in _iface_args(ln)}


def leftover_iptables(listings: dict[str, list[str]], known: Known, iptables: str, cnictl: str) -> list[Check]:
    """cnictl's CNICTL* chains and rules that no network using the iptables backend accounts for.

    *listings* maps a table (filter, nat) to its `iptables-save -t TABLE` lines; *iptables* is the command
    prefix (`ip netns exec HOST iptables` or `iptables`).
    """
    from cnictl.firewall.iptables import CHAINS, JUMPS

    present = {t: [ln for ln in lines if "CNICTL" in ln] for t, lines in listings.items()}
    if not any(present.values()):
        return []
    users = [n for n in known.networks if n.firewall == "iptables"]
    if not users:
        cmds = []
        for table, lines in present.items():
            have = {ln.split()[0][1:] for ln in lines if ln.startswith(":")}
            rules = set(lines)
            cmds += [f"{iptables} -t {table} -D {c} {r}" for c, r in JUMPS.get(table, []) if f"-A {c} {r}" in rules]
            cmds += [f"{iptables} -t {table} -F {c}" for c in CHAINS.get(table, []) if c in have]
            cmds += [f"{iptables} -t {table} -X {c}" for c in CHAINS.get(table, []) if c in have]
        named = sorted(iptables_bridges(listings))
        on = f" (rules name {', '.join(named)})" if named else ""
        return [Check("leftover.iptables", FAIL, f"cnictl's iptables chains exist but no network uses iptables{on}",
                      "; ".join(cmds) or None)]
    own = {n.bridge for n in users}
    out = []
    for bridge in sorted(iptables_bridges(listings) - own):
        count = sum(1 for lines in listings.values() for ln in lines if ln.startswith("-A CNICTL") and bridge in _iface_args(ln))
        out.append(Check(f"leftover.iptables.{bridge}", FAIL,
                         f"{count} CNICTL rule(s) name bridge {bridge}, which no network uses",
                         f"{cnictl} fw reload"))
    return out


def leftover_ipam(root: Path, private: bool, known: Known, cnictl: str,
                  cached: Mapping[tuple[str, str], str] | None = None,
                  live: Mapping[str, str] | None = None) -> list[Check]:
    """IPAM directories of unknown networks (only in a root of cnictl's own) and reservations whose owner is
    provably gone (fail in cnictl's own root; warn in the shared /var/lib/cni/networks, where the CNI
    host-local plugin may hold them).

    A reservation has an owner when an attachment record names it, when a CNI cache entry names its
    (container id, ifname) (*cached*: pair -> where: a runtime such as podman or `cnictl cni add` attached it
    through an emitted conflist), or when a live network namespace holds its address on an interface of the
    reservation's name (*live*: "ip%ifname" and "ip" -> where).
    Those are reported once, as ok, and never get a hint that would free them. Reservations of a
    host-access shim are never leftovers."""
    from cnictl.ipam.hostlocal import HostLocalStore

    cached = cached or {}
    live = live or {}
    held_elsewhere: list[str] = []

    try:
        entries = sorted(p for p in root.iterdir() if p.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    owners: dict[str, set[tuple[str, str]]] = {}
    for att in known.attachments:
        owners.setdefault(att.network, set()).add((att.container_id, att.ifname))
    out = []
    for d in entries:
        allocations = HostLocalStore(d).allocations()
        if d.name not in known.names:
            if private:
                out.append(Check(f"leftover.ipam.{d.name}", FAIL,
                                 f"IPAM directory {d} ({len(allocations)} reservation(s)) of network {d.name}, "
                                 "which has no record", f"rm -r {shlex.quote(str(d))}"))
            continue
        held = owners.get(d.name, set())
        ids = {cid for cid, _ in held}
        for a in allocations:
            if a.container_id.startswith(HOST_ACCESS_ID):
                continue
            if (a.container_id, a.ifname) in held or (not a.ifname and a.container_id in ids):
                continue
            who = f"{a.container_id}/{a.ifname}" if a.ifname else a.container_id
            owner = cached.get((a.container_id, a.ifname)) or live.get(f"{a.ip}%{a.ifname}" if a.ifname else str(a.ip))
            if owner is None and not a.ifname:
                owner = next((w for (cid, _), w in cached.items() if cid == a.container_id), None)
            if owner is not None:
                held_elsewhere.append(f"{a.ip} in {d.name} ({who}: {owner})")
                continue
            out.append(Check(f"leftover.ipam.{d.name}.{a.ip}", FAIL if private else WARN,
                             f"{a.ip} in network {d.name} is reserved for {who}, which has no attachment record",
                             f"{cnictl} ipam release {d.name} {a.ip}"))
    if held_elsewhere:
        shown = "; ".join(held_elsewhere[:5]) + (f"; and {len(held_elsewhere) - 5} more" if len(held_elsewhere) > 5 else "")
        out.append(Check("ipam.cni", OK, f"{len(held_elsewhere)} reservation(s) without a cnictl record are in use "
                                         f"by CNI runtimes: {shown}"))
    return out


def cni_cache_owners(cache_dirs: Iterable[Path]) -> dict[tuple[str, str], str]:
    """(container id, ifname) -> the libcni result cache file naming it, over *cache_dirs* (runtimes' caches)."""
    from cnictl.cni.cache import Cache

    out: dict[tuple[str, str], str] = {}
    for d in cache_dirs:
        with contextlib.suppress(OSError, ValueError):
            for e in Cache(d).attachments():
                out.setdefault((e.container_id, e.ifname), f"CNI cache {Cache(d).path(e.network, e.container_id, e.ifname)}")
    return out


def live_addresses(host: Host) -> dict[str, str]:
    """"ip%ifname" and "ip" -> the network namespace and interface holding it, over every namespace of this machine that can be
    reached: the named ones (/run/netns) and those of running processes (/proc/PID/ns/net), each once."""
    from cnictl.netns import NETNS_RUN_DIR, NetnsRef

    paths: list[str] = []
    with contextlib.suppress(OSError):
        paths += [f"{NETNS_RUN_DIR}/{n}" for n in sorted(os.listdir(NETNS_RUN_DIR))]
    with contextlib.suppress(OSError):
        paths += [f"/proc/{pid}/ns/net" for pid in sorted(os.listdir("/proc"), key=lambda s: (len(s), s)) if pid.isdigit()]
    seen: set[tuple[int, int]] = set()
    out: dict[str, str] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        try:
            ref = NetnsRef.parse(path)
            nl = host.nl_for(ref)
            for ifname, cidr in nl.addresses():
                ip = cidr.split("/")[0]
                out.setdefault(f"{ip}%{ifname}", f"held on {ifname} in {ref.spec}")
                out.setdefault(ip, f"held on {ifname} in {ref.spec}")
        except (CnictlError, OSError):
            continue
        finally:
            with contextlib.suppress(Exception):
                host.forget(ref)
    return out


def leftover_probe_namespaces(names: Iterable[str], alive: Callable[[int], bool]) -> list[Check]:
    """Probe namespaces of doctor runs that were killed before removing them (their process is gone)."""
    out = []
    for name in names:
        m = PROBE_RE.fullmatch(name)
        if m and not alive(int(m.group(1))):
            out.append(Check(f"leftover.netns.{name}", FAIL, "probe namespace of a cnictl doctor run that ended "
                                                             "before it could remove it", f"ip netns del {name}"))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------------------------------
# gathering (touches the kernel and the state directory)
# ---------------------------------------------------------------------------------------
def probe_name() -> str:
    return f"{PROBE_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"


def _iptables_facts() -> IptablesFacts:
    """`iptables -V`, which variants exist, and `iptables -t nat -L` in the current namespace."""
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


def _read_sysctl(key: str) -> str | None:
    from cnictl import sysctl

    try:
        return sysctl.read(key)
    except CnictlError:
        return None


def cnictl_prefix(host: Host) -> str:
    """`cnictl` with the global options that reach the same host and state (for hints)."""
    return host.cli_prefix()


@contextlib.contextmanager
def _state_lock(host: Host, checks: list[Check]) -> Iterator[None]:
    """Hold the state lock (exclusive: no attach or net create half-done) while leftovers are read; if
    it cannot be had in a few seconds, read anyway and say so."""
    from cnictl.errors import TransientError
    from cnictl.store import Store

    with contextlib.ExitStack() as stack:
        if host.paths.state_dir.is_dir():
            try:
                stack.enter_context(Store(host.paths).locked(exclusive=True, timeout=5.0))
            except TransientError:
                checks.append(Check("state.lock", WARN, "another cnictl is changing the state: changes in flight may "
                                                        "show as leftovers", f"run {cli('doctor')} again in a moment"))
        yield


def _known(host: Host, checks: list[Check]) -> Known:
    """The network and attachment records; a record that cannot be read is a failure of its own."""
    from cnictl.store import Store

    store = Store(host.paths)
    try:
        networks = store.networks()
        return Known(networks, [a for n in networks for a in store.attachments(n.name)])
    except (CnictlError, OSError, TypeError, ValueError, KeyError) as e:
        checks.append(Check("state.records", FAIL, f"cannot read the records under {host.paths.state_dir}: {e}",
                            "fix or move the broken record file"))
        return Known([], [])


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
            checks += fw_check_checks(r["problems"], r["networks"], cnictl_prefix(host))
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


def leftover_checks(host: Host, known: Known) -> list[Check]:
    cnictl = cnictl_prefix(host)
    nft_cmd = f"{host.exec_prefix()}nft"
    table = None
    with contextlib.suppress(CnictlError):  # no libnftables: no table of cnictl's to look at either
        from cnictl.firewall.nftables import NftablesBackend

        backend = host.fw_for("nftables")
        table = backend.table() if isinstance(backend, NftablesBackend) else None
    listings: dict[str, list[str]] = {}
    if shutil.which("iptables-save"):
        from cnictl.firewall.iptables import IptablesBackend

        ipt = IptablesBackend()
        for t in ("filter", "nat"):
            with contextlib.suppress(CnictlError):
                listings[t] = ipt.listing(t)
    out = leftover_links(host.nl().links(), known, nft_bridges(table) | iptables_bridges(listings), host.ip_cmd())
    out += leftover_nft(table, known, nft_cmd)
    out += leftover_iptables(listings, known, f"{host.exec_prefix()}iptables", cnictl)
    root = host.paths.ipam_root
    caches = [Path(getattr(host.paths, "cni_cache_dir", "") or host.paths.state_dir / "cni"), Path("/var/lib/cni")]
    out += leftover_ipam(root, root.is_relative_to(host.paths.state_dir), known, cnictl,
                         cni_cache_owners(dict.fromkeys(caches)), live_addresses(host))
    from cnictl.netns import list_named

    out += leftover_probe_namespaces(list_named(), _alive)
    return out


def run(host: Host) -> list[Check]:
    """Every check: features (in a throwaway namespace), host settings, leftovers. Needs root.

    *host* must be entered: its namespace and state are the ones inspected, and nothing in them changes.
    Leftovers are read first, under the state lock; the probes run after it is released.
    """
    state: list[Check] = []
    with _state_lock(host, state):
        known = _known(host, state)
        settings = host_checks(host, known)
        found = leftover_checks(host, known)
    features = probe_features(host, known.networks)
    if not found:
        found = [Check("leftovers", OK, "no link, firewall rule or IPAM reservation of cnictl's lacks a record")]
    return features + settings + state + found
