"""nftables backend: one atomic libnftables JSON batch per change, only in table `inet cnictl`.

Each network owns two base chains, `<net>-fwd` (filter/forward) and `<net>-nat`
(nat/postrouting), and its bridge is an element of the set `bridges`, which drives isolation
between networks. Nothing outside `inet cnictl` is ever listed, flushed or edited; the table is
deleted when its last network goes. This is the only module that imports `nftables`.

Rules for network "lab" on bridge br-lab, subnet 10.20.0.0/24 (as `nft` text):

    iifname "br-lab" oifname "br-lab" accept                  # traffic within the network
    iifname "br-lab" oifname @bridges drop                    # isolation from other cnictl networks
    iifname "br-lab" accept                                   # out of the bridge
    oifname "br-lab" ct state established,related accept     # replies back in
    oifname "br-lab" drop                                     # nothing else in
    ip saddr 10.20.0.0/24 oifname != "br-lab" masquerade      # nat chain
"""

from __future__ import annotations

import ipaddress
import json
from typing import TYPE_CHECKING, Any

from cnictl.errors import DependencyError, FirewallError
from cnictl.firewall.base import NetworkFirewall
from cnictl.plan import Step

if TYPE_CHECKING:
    from cnictl.host import Host

FAMILY = "inet"
TABLE = "cnictl"
SET = "bridges"


def _match(left: dict[str, Any], right: Any, op: str = "==") -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


def _meta(key: str) -> dict[str, Any]:
    return {"meta": {"key": key}}


class Rule:
    """One rule, kept as nft text (for explain and show) and as libnftables JSON expressions."""

    def __init__(self, chain: str, text: str, expr: list[dict[str, Any]]) -> None:
        self.chain, self.text, self.expr = chain, text, expr

    def command(self) -> dict[str, Any]:
        return {"add": {"rule": {"family": FAMILY, "table": TABLE, "chain": self.chain, "expr": self.expr}}}


def network_rules(fw: NetworkFirewall) -> tuple[list[Rule], list[Rule]]:
    """The forward-chain and nat-chain rules of one network."""
    fwd_chain, nat_chain = fw.chains
    br = fw.bridge
    q = json.dumps(br)
    iif, oif = _match(_meta("iifname"), br), _match(_meta("oifname"), br)
    fwd = [
        Rule(fwd_chain, f"iifname {q} oifname {q} accept", [iif, oif, {"accept": None}]),
        Rule(fwd_chain, f"iifname {q} oifname @{SET} drop", [iif, _match(_meta("oifname"), f"@{SET}"), {"drop": None}]),
    ]
    if fw.internal:
        fwd += [
            Rule(fwd_chain, f"iifname {q} drop", [iif, {"drop": None}]),
            Rule(fwd_chain, f"oifname {q} drop", [oif, {"drop": None}]),
        ]
    else:
        fwd += [
            Rule(fwd_chain, f"iifname {q} accept", [iif, {"accept": None}]),
            Rule(
                fwd_chain,
                f"oifname {q} ct state established,related accept",
                [oif, _match({"ct": {"key": "state"}}, ["established", "related"], "in"), {"accept": None}],
            ),
            Rule(fwd_chain, f"oifname {q} drop", [oif, {"drop": None}]),
        ]
    nat: list[Rule] = []
    if fw.masquerade and not fw.internal:
        for subnet in fw.subnets:
            net = ipaddress.ip_network(subnet)
            proto = "ip" if net.version == 4 else "ip6"
            prefix = {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}
            nat.append(
                Rule(
                    nat_chain,
                    f"{proto} saddr {net} oifname != {q} masquerade",
                    [
                        _match({"payload": {"protocol": proto, "field": "saddr"}}, prefix),
                        _match(_meta("oifname"), br, "!="),
                        {"masquerade": None},
                    ],
                )
            )
    return fwd, nat


def _obj(kind: str, **fields: Any) -> dict[str, Any]:
    return {kind: {"family": FAMILY, "table": TABLE, **fields}}


class NftablesBackend:
    name = "nftables"

    def __init__(self) -> None:
        self._nft: Any = None

    def _ctx(self) -> Any:
        if self._nft is None:
            try:
                import nftables
            except ImportError:
                raise DependencyError(
                    "the nftables Python module is missing", hint="pip install pip-nftables (needs libnftables1)"
                ) from None
            try:
                nft = nftables.Nftables()
            except OSError as e:
                raise DependencyError(
                    f"libnftables cannot be loaded ({e})", hint="apt-get install libnftables1"
                ) from None
            nft.set_json_output(True)
            nft.set_handle_output(False)
            self._nft = nft
        return self._nft

    def close(self) -> None:
        self._nft = None

    def run(self, commands: list[dict[str, Any]], what: str) -> Any:
        rc, out, err = self._ctx().json_cmd({"nftables": commands})
        if rc != 0:
            raise FirewallError(f"nft {what}: {str(err).strip().splitlines()[0] if err else 'failed'}")
        return out

    def table(self) -> dict[str, Any] | None:
        """The parsed `list table inet cnictl`, or None if there is no such table."""
        rc, out, _err = self._ctx().json_cmd({"nftables": [{"list": {"table": {"family": FAMILY, "name": TABLE}}}]})
        if rc != 0:
            return None
        items = out.get("nftables", []) if isinstance(out, dict) else []
        table: dict[str, Any] = {"chains": {}, "rules": [], "elements": []}
        for item in items:
            if "chain" in item:
                table["chains"][item["chain"]["name"]] = item["chain"]
            elif "rule" in item:
                table["rules"].append(item["rule"])
            elif "set" in item and item["set"].get("name") == SET:
                table["elements"] = list(item["set"].get("elem", []))
        return table

    # ---- plan steps --------------------------------------------------------------------
    def setup_network(self, fw: NetworkFirewall) -> Step:
        return NftSetup(self, fw)

    def teardown_network(self, fw: NetworkFirewall) -> Step:
        return NftTeardown(self, fw)

    def setup_commands(self, fw: NetworkFirewall) -> tuple[list[dict[str, Any]], list[str]]:
        fwd_chain, nat_chain = fw.chains
        fwd, nat = network_rules(fw)
        cmds: list[dict[str, Any]] = [
            {"add": {"table": {"family": FAMILY, "name": TABLE}}},
            {"add": _obj("set", name=SET, type="ifname")},
            {"add": _obj("element", name=SET, elem=[fw.bridge])},
            {"add": _obj("chain", name=fwd_chain, type="filter", hook="forward", prio=0, policy="accept")},
            {"flush": _obj("chain", name=fwd_chain)},
        ]
        text = [
            f"add table {FAMILY} {TABLE}",
            f"add set {FAMILY} {TABLE} {SET} {{ type ifname; }}",
            f"add element {FAMILY} {TABLE} {SET} {{ {json.dumps(fw.bridge)} }}",
            f"add chain {FAMILY} {TABLE} {fwd_chain} {{ type filter hook forward priority filter; policy accept; }}",
        ]
        cmds += [r.command() for r in fwd]
        text += [f"add rule {FAMILY} {TABLE} {fwd_chain} {r.text}" for r in fwd]
        if nat:
            cmds += [
                {"add": _obj("chain", name=nat_chain, type="nat", hook="postrouting", prio=100, policy="accept")},
                {"flush": _obj("chain", name=nat_chain)},
            ]
            text.append(f"add chain {FAMILY} {TABLE} {nat_chain} {{ type nat hook postrouting priority srcnat; }}")
            cmds += [r.command() for r in nat]
            text += [f"add rule {FAMILY} {TABLE} {nat_chain} {r.text}" for r in nat]
        return cmds, text

    def teardown_commands(self, fw: NetworkFirewall) -> tuple[list[dict[str, Any]], list[str]]:
        """Remove one network's objects; the whole table when nothing else is left in it."""
        table = self.table()
        if table is None:
            return [], []
        mine = set(fw.chains)
        others = [c for c in table["chains"] if c not in mine]
        other_elems = [e for e in table["elements"] if e != fw.bridge]
        if not others and not other_elems:
            return [{"delete": {"table": {"family": FAMILY, "name": TABLE}}}], [f"delete table {FAMILY} {TABLE}"]
        cmds: list[dict[str, Any]] = []
        text: list[str] = []
        for chain in fw.chains:
            if chain in table["chains"]:
                cmds += [{"flush": _obj("chain", name=chain)}, {"delete": _obj("chain", name=chain)}]
                text += [f"delete chain {FAMILY} {TABLE} {chain}"]
        if fw.bridge in table["elements"]:
            cmds.append({"delete": _obj("element", name=SET, elem=[fw.bridge])})
            text.append(f"delete element {FAMILY} {TABLE} {SET} {{ {json.dumps(fw.bridge)} }}")
        return cmds, text

    # ---- reads -------------------------------------------------------------------------
    def rules(self, network: str | None = None) -> list[dict[str, Any]]:
        table = self.table()
        if table is None:
            return []
        out = []
        for rule in table["rules"]:
            chain = rule["chain"]
            if network is not None and chain not in (f"{network}-fwd", f"{network}-nat"):
                continue
            out.append({"chain": chain, "handle": rule.get("handle"), "expr": rule["expr"]})
        return out

    def text(self, network: str | None = None) -> str:
        ctx = self._ctx()
        ctx.set_json_output(False)
        try:
            if network is None:
                rc, out, _ = ctx.cmd(f"list table {FAMILY} {TABLE}")
                return str(out) if rc == 0 else ""
            parts = []
            for chain in (f"{network}-fwd", f"{network}-nat"):
                rc, out, _ = ctx.cmd(f"list chain {FAMILY} {TABLE} {chain}")
                if rc == 0:
                    parts.append(str(out))
            return "".join(parts)
        finally:
            ctx.set_json_output(True)


def _nft_lines(host: Host, text: list[str]) -> list[str]:
    return [f"{host.exec_prefix()}nft '{line}'" for line in text]


class NftSetup(Step):
    def __init__(self, backend: NftablesBackend, fw: NetworkFirewall) -> None:
        self.backend, self.fw = backend, fw
        self.summary = f"add nftables rules for {fw.network} (table {FAMILY} {TABLE})"
        self.applied = False

    def apply(self, host: Host) -> None:
        cmds, _ = self.backend.setup_commands(self.fw)
        self.backend.run(cmds, f"add rules for network {self.fw.network}")
        self.applied = True

    def undo(self, host: Host) -> None:
        if self.applied:
            cmds, _ = self.backend.teardown_commands(self.fw)
            if cmds:
                self.backend.run(cmds, f"remove rules of network {self.fw.network}")

    def explain(self, host: Host) -> list[str]:
        return _nft_lines(host, self.backend.setup_commands(self.fw)[1])


class NftTeardown(Step):
    def __init__(self, backend: NftablesBackend, fw: NetworkFirewall) -> None:
        self.backend, self.fw = backend, fw
        self.summary = f"remove nftables rules of {fw.network}"

    def apply(self, host: Host) -> None:
        cmds, _ = self.backend.teardown_commands(self.fw)
        if cmds:
            self.backend.run(cmds, f"remove rules of network {self.fw.network}")

    def explain(self, host: Host) -> list[str]:
        try:
            text = self.backend.teardown_commands(self.fw)[1]
        except Exception:  # noqa: BLE001 - explaining must not fail when nft is unreadable
            text = []
        return _nft_lines(host, text or [f"delete chain {FAMILY} {TABLE} {c}" for c in self.fw.chains])
