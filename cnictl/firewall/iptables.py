"""iptables backend (iptables-nft or iptables-legacy), laid out like docker's chains with a CNICTL prefix.

filter:  FORWARD -> CNICTL-FORWARD -> CNICTL-ISOLATION-STAGE-1 -> CNICTL-ISOLATION-STAGE-2
         INPUT   -> CNICTL-INPUT   (containers may not reach the host's loopback)
nat:     PREROUTING/OUTPUT (-m addrtype --dst-type LOCAL) -> CNICTL-DNAT   (DNAT of published ports)
         POSTROUTING -> CNICTL-POSTROUTING                            (masquerade, hairpin, localhost)

Every change is one `iptables-restore --noflush` per table, so it applies whole or not at all. Published
ports are one DNAT rule each, as in docker: a lookup walks the chain (the nftables backend uses maps).
The binary is `iptables`: whichever variant (nft or legacy) the system selected.

    >>> network_lines(NetworkFirewall("lab", "br-lab", ("10.20.0.0/24",), True, False))["nat"][0]
    '-A CNICTL-POSTROUTING -s 10.20.0.0/24 -d 10.20.0.0/24 -m conntrack --ctstate DNAT -j MASQUERADE'
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess

from cnictl.errors import CnictlError, DependencyError, FirewallError
from cnictl.firewall.base import Leftover, NetworkFirewall, PortForward, forwards_data, forwards_from, fw_data, fw_from
from cnictl.plan import Step

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from cnictl.firewall.protocol import Records
    from cnictl.host import Host

NAME = "iptables"  # the backend's name, as networks record it (Network.firewall)

CHAINS = {
    "filter": ["CNICTL-FORWARD", "CNICTL-ISOLATION-STAGE-1", "CNICTL-ISOLATION-STAGE-2", "CNICTL-INPUT"],
    "nat": ["CNICTL-DNAT", "CNICTL-POSTROUTING"],
}
JUMPS = {
    "filter": [("FORWARD", "-j CNICTL-FORWARD"), ("INPUT", "-j CNICTL-INPUT")],
    "nat": [("PREROUTING", "-m addrtype --dst-type LOCAL -j CNICTL-DNAT"),
            ("OUTPUT", "-m addrtype --dst-type LOCAL -j CNICTL-DNAT"),
            ("POSTROUTING", "-j CNICTL-POSTROUTING")],
}
FIXED = {
    "filter": ["-A CNICTL-FORWARD -j CNICTL-ISOLATION-STAGE-1"],
    "nat": ["-A CNICTL-POSTROUTING -s 127.0.0.0/8 -m conntrack --ctstate DNAT -j MASQUERADE"],
}


def network_lines(fw: NetworkFirewall) -> dict[str, list[str]]:
    """The `-A` lines of one network, per table (docker's layout)."""
    br = fw.bridge
    filt = [f"-A CNICTL-FORWARD -i {br} -o {br} -j ACCEPT",
            f"-A CNICTL-ISOLATION-STAGE-1 -i {br} ! -o {br} -j CNICTL-ISOLATION-STAGE-2",
            f"-A CNICTL-ISOLATION-STAGE-2 -o {br} -j DROP"]
    # --no-isolate networks may talk to each other: ACCEPT rules ahead of the DROP rules (see `_first`)
    for peer in fw.open_peers:
        filt += [f"-A CNICTL-ISOLATION-STAGE-2 -i {br} -o {peer} -j ACCEPT",
                 f"-A CNICTL-ISOLATION-STAGE-2 -i {peer} -o {br} -j ACCEPT"]
    if fw.internal:
        filt += [f"-A CNICTL-FORWARD -i {br} ! -o {br} -j DROP", f"-A CNICTL-FORWARD ! -i {br} -o {br} -j DROP"]
    else:
        filt += [f"-A CNICTL-FORWARD -o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                 f"-A CNICTL-FORWARD -o {br} -m conntrack --ctstate DNAT -j ACCEPT",
                 f"-A CNICTL-FORWARD -i {br} ! -o {br} -j ACCEPT",
                 f"-A CNICTL-FORWARD -o {br} -j DROP"]
    # new connections only: answers to localhost clients of published ports come back this way
    filt.append(f"-A CNICTL-INPUT -d 127.0.0.0/8 -i {br} -m conntrack ! --ctstate RELATED,ESTABLISHED -j DROP")
    nat: list[str] = []
    if not fw.internal:
        for subnet in fw.subnets:
            net = ipaddress.ip_network(subnet)
            if net.version == 4:
                nat.append(f"-A CNICTL-POSTROUTING -s {net} -d {net} -m conntrack --ctstate DNAT -j MASQUERADE")
                if fw.masquerade:
                    nat.append(f"-A CNICTL-POSTROUTING -s {net} ! -o {br} -j MASQUERADE")
    return {"filter": filt, "nat": nat}


def _is_pair(line: str) -> bool:
    return line.startswith("-A CNICTL-ISOLATION-STAGE-2 ") and line.endswith("-j ACCEPT")


def _first(line: str) -> str:
    """Open-pair ACCEPT rules go to the top of STAGE-2 (ahead of the DROP rules of earlier networks)."""
    if _is_pair(line):
        chain, rest = line[3:].split(" ", 1)
        return f"-I {chain} 1 {rest}"
    return line


def port_lines(pf: PortForward) -> list[str]:
    dst = f" -d {pf.host_ip}/32" if pf.host_ip else ""
    return [f"-A CNICTL-DNAT{dst} -p {pf.proto} -m {pf.proto} --dport {hp} -j DNAT --to-destination {pf.container_ip}:{cp}"
            for hp, cp in pf.pairs()]


def _iface_args(line: str) -> set[str]:
    words = line.split()
    return {words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-i", "-o")}


def iptables_bridges(listings: dict[str, list[str]]) -> set[str]:
    """Every interface cnictl's CNICTL* rules match (-i/-o), over `iptables-save -t TABLE` listings."""
    return {b for lines in listings.values() for ln in lines if ln.startswith("-A CNICTL") for b in _iface_args(ln)}


def leftover_iptables(listings: dict[str, list[str]], known: Records, iptables: str, cnictl: str) -> list[Leftover]:
    """cnictl's CNICTL* chains and rules that no network using the iptables backend accounts for.

    *listings* maps a table (filter, nat) to its `iptables-save -t TABLE` lines; *iptables* is the command
    prefix of the hints (`ip netns exec HOST iptables` or `iptables`), *cnictl* that of `cnictl fw reload`.
    """
    present = {t: [ln for ln in lines if "CNICTL" in ln] for t, lines in listings.items()}
    if not any(present.values()):
        return []
    users = [n for n in known.networks if n.firewall == NAME]
    if not users:
        args: list[str] = []
        for table, lines in present.items():
            have = {ln.split()[0][1:] for ln in lines if ln.startswith(":")}
            rules = set(lines)
            args += [f"-t {table} -D {c} {r}" for c, r in JUMPS.get(table, []) if f"-A {c} {r}" in rules]
            args += [f"-t {table} -F {c}" for c in CHAINS.get(table, []) if c in have]
            args += [f"-t {table} -X {c}" for c in CHAINS.get(table, []) if c in have]
        named = sorted(iptables_bridges(listings))
        on = f" (rules name {', '.join(named)})" if named else ""
        return [Leftover("leftover.iptables", f"cnictl's iptables chains exist but no network uses iptables{on}",
                         "; ".join(f"{iptables} {a}" for a in args) or None, tuple(args))]
    from cnictl.drivers import host_links

    own = host_links(users)  # the networks' bridges
    out = []
    for bridge in sorted(iptables_bridges(listings) - own):
        count = sum(1 for lines in listings.values() for ln in lines if ln.startswith("-A CNICTL") and bridge in _iface_args(ln))
        out.append(Leftover(f"leftover.iptables.{bridge}", f"{count} CNICTL rule(s) name bridge {bridge}, which no network uses",
                            f"{cnictl} fw reload"))
    return out


class IptablesBackend:
    name = NAME

    def __init__(self) -> None:
        self.binary = "iptables"

    def close(self) -> None:
        return None

    def _exe(self, suffix: str = "") -> str:
        path = shutil.which(self.binary + suffix)
        if path is None:
            raise DependencyError(f"{self.binary + suffix} is not installed", hint="apt-get install iptables")
        return path

    def _run(self, argv: list[str], stdin: str | None = None, what: str = "") -> str:
        p = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            msg = (p.stderr.strip().splitlines() or ["failed"])[-1]
            raise FirewallError(f"{what or ' '.join(argv)}: {msg}")
        return p.stdout

    def restore(self, table: str, lines: list[str], what: str) -> None:
        """Apply *lines* (-N/-A/-D/-I/-F/-X) to *table* in one iptables-restore transaction."""
        if lines:
            doc = f"*{table}\n" + "\n".join(lines) + "\nCOMMIT\n"
            self._run([self._exe("-restore"), "--noflush"], doc, f"iptables-restore ({what})")

    def listing(self, table: str) -> list[str]:
        return self._run([self._exe("-save"), "-t", table], what="iptables-save").splitlines()

    def _base(self, table: str, listing: list[str]) -> list[str]:
        """-N for our chains that are missing and the jumps from the built-in chains that are missing."""
        have = {ln.split()[0][1:] for ln in listing if ln.startswith(":")}
        out = [f"-N {c}" for c in CHAINS[table] if c not in have]
        rules = set(listing)
        for chain, rest in JUMPS[table]:
            if f"-A {chain} {rest}" not in rules:
                out.append(f"-I {chain} 1 {rest}")
        for line in FIXED[table]:
            if line not in rules:
                out.append(line)
        return out

    # ---- steps -------------------------------------------------------------------------
    def setup_network(self, fw: NetworkFirewall) -> Step:
        return IptSetup(self, fw)

    def teardown_network(self, fw: NetworkFirewall, last: bool = False) -> Step:
        return IptTeardown(self, fw, last)

    def publish(self, forwards: Callable[[], list[PortForward]], summary: str) -> Step:
        return IptPublish(self, forwards, summary)

    def unpublish(self, forwards: list[PortForward], summary: str) -> Step:
        return IptUnpublish(self, forwards, summary)

    def add(self, per_table: dict[str, list[str]], what: str) -> None:
        for table, lines in per_table.items():
            listing = self.listing(table)
            present = set(listing)
            new = [_first(ln) for ln in lines if ln not in present]
            self.restore(table, self._base(table, listing) + new, what)

    def remove(self, per_table: dict[str, list[str]], what: str) -> None:
        """Delete these rules where present (already gone is fine); when no network is left, cnictl's
        chains and jumps go too, so nothing of cnictl stays in the ruleset."""
        for table, lines in per_table.items():
            present = set(self.listing(table))
            self.restore(table, ["-D" + ln[2:] for ln in lines if ln in present], what)
        self._remove_base_if_unused()

    def _remove_base_if_unused(self) -> None:
        listings = {t: self.listing(t) for t in CHAINS}
        ours = [ln for t, lst in listings.items() for ln in lst
                if ln.startswith("-A CNICTL") and ln not in FIXED[t]]
        if ours:
            return
        for table, listing in listings.items():
            present = set(listing)
            have = {ln.split()[0][1:] for ln in listing if ln.startswith(":")}
            lines = [f"-D {chain} {rest}" for chain, rest in JUMPS[table] if f"-A {chain} {rest}" in present]
            lines += [f"-F {c}" for c in CHAINS[table] if c in have] + [f"-X {c}" for c in CHAINS[table] if c in have]
            self.restore(table, lines, "remove cnictl's chains")

    # ---- reload / check / show ---------------------------------------------------------
    def reload(self, networks: list[NetworkFirewall], forwards: list[PortForward]) -> int:
        if not networks:
            return 0
        want: dict[str, list[str]] = {"filter": [], "nat": []}
        for fw in networks:
            for table, lines in network_lines(fw).items():
                want[table] += lines
        want["nat"] += [ln for pf in forwards for ln in port_lines(pf)]
        count = 0
        for table in ("filter", "nat"):
            listing = self.listing(table)
            base = self._base(table, listing)
            flush = [f"-F {c}" for c in CHAINS[table] if any(ln.startswith(f":{c} ") for ln in listing)]
            ordered = sorted(dict.fromkeys(want[table]), key=lambda ln: not _is_pair(ln))
            lines = base + flush + [ln for ln in FIXED[table] if ln not in base] + ordered
            self.restore(table, lines, "reload cnictl's rules")
            count += len(lines)
        return count

    def check(self, networks: list[NetworkFirewall], forwards: list[PortForward]) -> list[str]:
        if not networks:
            return []
        problems = []
        for table in ("filter", "nat"):
            listing = self.listing(table)
            present = set(listing)
            for chain, rest in JUMPS[table]:
                if f"-A {chain} {rest}" not in present:
                    problems.append(f"{table} {chain} does not jump to cnictl's chain ({rest})")
            want = [ln for fw in networks for ln in network_lines(fw)[table]]
            if table == "nat":
                want += [ln for pf in forwards for ln in port_lines(pf)]
            for ln in want:
                if ln not in present:
                    problems.append(f"{table} rule missing: {ln}")
        return problems

    def foreign_forward_drops(self) -> list[str]:
        """Nothing to report: CNICTL-FORWARD accepts cnictl's traffic before a FORWARD DROP policy applies
        (docker's layout relies on the same)."""
        return []

    # ---- leftovers (cnictl doctor) ---------------------------------------------------------
    def _listings(self) -> dict[str, list[str]]:
        """`iptables-save -t TABLE` of filter and nat; a table that cannot be listed is left out (no
        iptables installed: nothing of cnictl's to look at either)."""
        out: dict[str, list[str]] = {}
        if shutil.which(self.binary + "-save") is None:
            return out
        for table in CHAINS:
            try:
                out[table] = self.listing(table)
            except CnictlError:
                continue
        return out

    def bridges_in_rules(self) -> set[str]:
        return iptables_bridges(self._listings())

    def leftovers(self, known: Records, host: Host) -> list[Leftover]:
        return leftover_iptables(self._listings(), known, f"{host.exec_prefix()}iptables", host.cli_prefix())

    def remove_leftover(self, leftover: Leftover) -> None:
        """Run a leftover's iptables arguments (`cnictl gc`), each on its own; a rule or chain already gone is fine."""
        import shlex

        for args in leftover.commands:
            try:
                self._run([self._exe(""), *shlex.split(args)], what=f"iptables {args}")
            except FirewallError as e:
                if "does not exist" not in str(e) and "No chain" not in str(e) and "Bad rule" not in str(e):
                    raise

    @staticmethod
    def _mine(line: str, network: NetworkFirewall | None) -> bool:
        """cnictl's line, and (given a network) one of that network's: its bridge, subnet or containers."""
        if "CNICTL" not in line or line.startswith("#"):
            return False
        if network is None:
            return True
        words = line.split()
        if network.bridge in words or any(s in words for s in network.subnets):
            return True
        if "--to-destination" in words:
            ip = words[words.index("--to-destination") + 1].split(":")[0]
            return any(ipaddress.ip_address(ip) in ipaddress.ip_network(s) for s in network.subnets
                       if ":" not in s)
        return False

    def rules(self, network: NetworkFirewall | None = None) -> list[dict[str, Any]]:
        return [{"table": table, "rule": ln} for table in ("filter", "nat") for ln in self.listing(table)
                if ln.startswith("-A ") and self._mine(ln, network)]

    def text(self, network: NetworkFirewall | None = None) -> str:
        lines = []
        for table in ("filter", "nat"):
            ours = [ln for ln in self.listing(table) if self._mine(ln, network)]
            if ours:
                lines += [f"*{table}", *ours]
        return "\n".join(lines) + ("\n" if lines else "")


def _explain(host: Host, table: str, lines: list[str]) -> list[str]:
    return [f"{host.exec_prefix()}iptables -t {table} {ln}" for ln in lines]


class IptSetup(Step):
    def __init__(self, backend: IptablesBackend, fw: NetworkFirewall) -> None:
        self.backend, self.fw = backend, fw
        self.summary = f"add iptables rules for {fw.network}"
        self.applied = False

    def apply(self, host: Host) -> None:
        self.backend.add(network_lines(self.fw), self.summary)
        self.applied = True

    def undo(self, host: Host) -> None:
        if self.applied:
            self.backend.remove(network_lines(self.fw), f"remove rules of {self.fw.network}")

    def journal(self) -> dict[str, Any]:
        return {"fw": fw_data(self.fw)}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> IptSetup:
        step = cls(IptablesBackend(), fw_from(data["fw"]))
        step.applied = True  # (cut short: the teardown removes what of this new network's rules exists)
        return step

    def explain(self, host: Host) -> list[str]:
        out = []
        for table, lines in network_lines(self.fw).items():
            out += _explain(host, table, [f"-N {c}" for c in CHAINS[table]]
                            + [f"-I {c} 1 {r}" for c, r in JUMPS[table]] + FIXED[table] + lines)
        return out


class IptTeardown(Step):
    """Delete the network's rules (cnictl's chains and jumps too when no rule of cnictl's is left, as the
    ruleset shows when it runs); explained from the records (*last*), so a dry run reads no ruleset."""

    def __init__(self, backend: IptablesBackend, fw: NetworkFirewall, last: bool = False) -> None:
        self.backend, self.fw, self.last = backend, fw, last
        self.summary = f"remove iptables rules of {fw.network}"

    def apply(self, host: Host) -> None:
        self.backend.remove(network_lines(self.fw), self.summary)

    def journal(self) -> dict[str, Any]:
        return {"fw": fw_data(self.fw), "last": self.last}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> IptTeardown:
        return cls(IptablesBackend(), fw_from(data["fw"]), data["last"])

    def explain(self, host: Host) -> list[str]:
        out = [ln for t, lines in network_lines(self.fw).items() for ln in _explain(host, t, ["-D" + x[2:] for x in lines])]
        if self.last:  # what _remove_base_if_unused then removes
            for table in CHAINS:
                out += _explain(host, table, [f"-D {chain} {rest}" for chain, rest in JUMPS[table]]
                                + [f"-F {c}" for c in CHAINS[table]] + [f"-X {c}" for c in CHAINS[table]])
        return out


class IptPublish(Step):
    def __init__(self, backend: IptablesBackend, forwards: Callable[[], list[PortForward]], summary: str) -> None:
        self.backend, self.forwards = backend, forwards
        self.summary = f"publish {summary}"
        self.done: list[PortForward] = []

    def apply(self, host: Host) -> None:
        fwds = self.forwards()
        self.backend.add({"nat": [ln for pf in fwds for ln in port_lines(pf)]}, self.summary)
        self.done = fwds

    def undo(self, host: Host) -> None:
        if self.done:
            self.backend.remove({"nat": [ln for pf in self.done for ln in port_lines(pf)]}, f"undo {self.summary}")

    def journal(self) -> dict[str, Any]:
        return {"summary": self.summary.removeprefix("publish ")}  # the mappings are known once it ran

    def journal_out(self) -> dict[str, Any]:
        return {"done": forwards_data(self.done)}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> IptPublish:
        done = forwards_from(out["done"]) if out is not None else []
        step = cls(IptablesBackend(), lambda: done, data["summary"])
        step.done = done
        return step

    def explain(self, host: Host) -> list[str]:
        return _explain(host, "nat", [ln for pf in self.forwards() for ln in port_lines(pf)])


class IptUnpublish(Step):
    def __init__(self, backend: IptablesBackend, forwards: list[PortForward], summary: str) -> None:
        self.backend, self.forwards = backend, forwards
        self.summary = f"unpublish {summary}"

    def apply(self, host: Host) -> None:
        self.backend.remove({"nat": [ln for pf in self.forwards for ln in port_lines(pf)]}, self.summary)

    def journal(self) -> dict[str, Any]:
        return {"forwards": forwards_data(self.forwards), "summary": self.summary.removeprefix("unpublish ")}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> IptUnpublish:
        return cls(IptablesBackend(), forwards_from(data["forwards"]), data["summary"])

    def explain(self, host: Host) -> list[str]:
        return _explain(host, "nat", ["-D" + ln[2:] for pf in self.forwards for ln in port_lines(pf)])
