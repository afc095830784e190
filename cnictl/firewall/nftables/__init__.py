"""nftables backend: one atomic libnftables JSON batch per change, only in table `inet cnictl`.

Each network owns two base chains, `<net>-fwd` (filter/forward) and `<net>-nat`
(nat/postrouting), and its bridge is an element of the set `bridges`, which drives isolation
between networks. Nothing outside `inet cnictl` is ever listed, flushed or edited; the table is
deleted when its last network goes. This module is the only one that imports `nftables` (in
`NftablesBackend._ctx`); what the rules are is `rules.py`, and telling cnictl's leftover chains and
set elements from a table listing is `leftovers.py`, both pure.

Rules for network "lab" on bridge br-lab, subnet 10.20.0.0/24 (as `nft` text):

    iifname "br-lab" oifname "br-lab" accept                  # traffic within the network
    iifname "br-lab" oifname @bridges drop                    # isolation from other cnictl networks
    iifname "br-lab" accept                                   # out of the bridge
    oifname "br-lab" ct state established,related accept     # replies back in
    oifname "br-lab" drop                                     # nothing else in
    ip saddr 10.20.0.0/24 oifname != "br-lab" masquerade      # nat chain
"""

from __future__ import annotations

import json

from cnictl.errors import DependencyError, FirewallError, cli
from cnictl.firewall.base import Leftover, NetworkFirewall, PortForward, forwards_data, forwards_from, fw_data, fw_from
from cnictl.firewall.nftables.rules import (
    FAMILY,
    INFRA_CHAINS,
    NAME,
    OPEN,
    PORT_MAPS,
    SET,
    TABLE,
    Rule,
    _element_text,
    _match,
    _obj,
    network_rules,
    port_elements,
    port_infra_rules,
)
from cnictl.plan import Step

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from cnictl.firewall.protocol import Records
    from cnictl.host import Host

__all__ = ["FAMILY", "INFRA_CHAINS", "OPEN", "PORT_MAPS", "SET", "TABLE", "NftablesBackend", "Rule", "network_rules",
           "port_elements", "port_infra_rules", "probe"]


class NftablesBackend:
    name = NAME

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
            elif "set" in item and item["set"].get("name") == OPEN:
                table["open"] = list(item["set"].get("elem", []))
        return table

    # ---- plan steps --------------------------------------------------------------------
    def setup_network(self, fw: NetworkFirewall) -> Step:
        return NftSetup(self, fw)

    def teardown_network(self, fw: NetworkFirewall, last: bool = False) -> Step:
        return NftTeardown(self, fw, last)

    def setup_commands(self, fw: NetworkFirewall) -> tuple[list[dict[str, Any]], list[str]]:
        fwd_chain, nat_chain = fw.chains
        fwd, nat = network_rules(fw)
        cmds: list[dict[str, Any]] = [
            {"add": {"table": {"family": FAMILY, "name": TABLE}}},
            {"add": _obj("set", name=SET, type="ifname")},
            {"add": _obj("set", name=OPEN, type="ifname")},
            {"add": _obj("element", name=SET, elem=[fw.bridge])},
            {"add": _obj("chain", name=fwd_chain, type="filter", hook="forward", prio=0, policy="accept")},
            {"flush": _obj("chain", name=fwd_chain)},
        ]
        text = [
            f"add table {FAMILY} {TABLE}",
            f"add set {FAMILY} {TABLE} {SET} {{ type ifname; }}",
            f"add set {FAMILY} {TABLE} {OPEN} {{ type ifname; }}",
            f"add element {FAMILY} {TABLE} {SET} {{ {json.dumps(fw.bridge)} }}",
            f"add chain {FAMILY} {TABLE} {fwd_chain} {{ type filter hook forward priority filter; policy accept; }}",
        ]
        if not fw.isolate:
            cmds.append({"add": _obj("element", name=OPEN, elem=[fw.bridge])})
            text.append(f"add element {FAMILY} {TABLE} {OPEN} {{ {json.dumps(fw.bridge)} }}")
        cmds += [r.command() for r in fwd]
        text += [f"add rule {FAMILY} {TABLE} {fwd_chain} {r.text}" for r in fwd]
        infra, infra_text = self.infra_commands()
        cmds += infra
        text += infra_text
        if nat:
            cmds += [
                {"add": _obj("chain", name=nat_chain, type="nat", hook="postrouting", prio=100, policy="accept")},
                {"flush": _obj("chain", name=nat_chain)},
            ]
            text.append(f"add chain {FAMILY} {TABLE} {nat_chain} {{ type nat hook postrouting priority srcnat; }}")
            cmds += [r.command() for r in nat]
            text += [f"add rule {FAMILY} {TABLE} {nat_chain} {r.text}" for r in nat]
        return cmds, text

    @staticmethod
    def infra_commands() -> tuple[list[dict[str, Any]], list[str]]:
        """The port maps and their chains; fixed content, so adding them again is harmless (flush + add)."""
        cmds: list[dict[str, Any]] = []
        text: list[str] = []
        for name, (key, value) in PORT_MAPS.items():
            cmds.append({"add": _obj("map", name=name, type=key, map=value)})
            text.append(f"add map {FAMILY} {TABLE} {name} {{ type {' . '.join(key)} : {value}; }}")
        hooks = {"ports-pre": ("prerouting", -100, "dstnat"), "ports-out": ("output", -100, "-100"),
                 "ports-post": ("postrouting", 100, "srcnat")}
        for chain, (hook, prio, prio_text) in hooks.items():
            cmds += [{"add": _obj("chain", name=chain, type="nat", hook=hook, prio=prio, policy="accept")},
                     {"flush": _obj("chain", name=chain)}]
            text.append(f"add chain {FAMILY} {TABLE} {chain} {{ type nat hook {hook} priority {prio_text}; }}")
        for r in port_infra_rules():
            cmds.append(r.command())
            text.append(f"add rule {FAMILY} {TABLE} {r.chain} {r.text}")
        return cmds, text

    def publish(self, forwards: Callable[[], list[PortForward]], summary: str) -> Step:
        return NftPublish(self, forwards, summary)

    def unpublish(self, forwards: list[PortForward], summary: str) -> Step:
        return NftUnpublish(self, forwards, summary)

    def element_commands(self, forwards: list[PortForward], verb: str) -> list[dict[str, Any]]:
        cmds = []
        for pf in forwards:
            for name, key, value in port_elements(pf):
                elem = [key, value] if verb == "add" else key
                cmds.append({verb: _obj("element", name=name, elem=[elem])})
        return cmds

    def remove_elements(self, forwards: list[PortForward]) -> None:
        """Delete the mappings' elements; ones already gone are fine."""
        cmds = self.element_commands(forwards, "delete")
        if not cmds:
            return
        rc, _out, _err = self._ctx().json_cmd({"nftables": cmds})
        if rc != 0:  # some were missing: delete the rest one by one
            for cmd in cmds:
                self._ctx().json_cmd({"nftables": [cmd]})

    def teardown_commands(self, fw: NetworkFirewall) -> tuple[list[dict[str, Any]], list[str]]:
        """Remove one network's objects; the whole table when nothing else is left in it."""
        table = self.table()
        if table is None:
            return [], []
        mine = set(fw.chains)
        others = [c for c in table["chains"] if c not in mine and c not in INFRA_CHAINS]
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
        if fw.bridge in table.get("open", []):
            cmds.append({"delete": _obj("element", name=OPEN, elem=[fw.bridge])})
            text.append(f"delete element {FAMILY} {TABLE} {OPEN} {{ {json.dumps(fw.bridge)} }}")
        return cmds, text

    @staticmethod
    def teardown_text(fw: NetworkFirewall, last: bool) -> list[str]:
        """What removing *fw* deletes, as the records tell it (no kernel is read): the whole table when no
        other network has rules in it (*last*), else the network's chains and its set elements."""
        if last:
            return [f"delete table {FAMILY} {TABLE}"]
        nat = network_rules(fw)[1]
        text = [f"delete chain {FAMILY} {TABLE} {c}" for c in fw.chains[:2 if nat else 1]]
        text.append(f"delete element {FAMILY} {TABLE} {SET} {{ {json.dumps(fw.bridge)} }}")
        if not fw.isolate:
            text.append(f"delete element {FAMILY} {TABLE} {OPEN} {{ {json.dumps(fw.bridge)} }}")
        return text

    # ---- reload and check --------------------------------------------------------------
    def reload(self, networks: list[NetworkFirewall], forwards: list[PortForward]) -> int:
        """Re-create every object cnictl owns from its state, in one transaction; returns the command count.

        Existing chains are flushed and refilled, the port maps are emptied and refilled, so running it
        on an intact ruleset changes nothing and on a flushed one restores everything.
        """
        if not networks:
            return 0
        cmds: list[dict[str, Any]] = []
        for fw in networks:
            cmds += self.setup_commands(fw)[0]
        cmds += [{"flush": _obj("map", name=name)} for name in PORT_MAPS]
        cmds += self.element_commands(forwards, "add")
        self.run(cmds, "reload cnictl's rules")
        return len(cmds)

    def check(self, networks: list[NetworkFirewall], forwards: list[PortForward]) -> list[str]:
        """What is missing from table inet cnictl, compared with what the state says should be there."""
        if not networks:
            return []
        table = self.table()
        if table is None:
            return [f"table {FAMILY} {TABLE} is missing (run: {cli('fw reload')})"]
        problems = []
        counts: dict[str, int] = {}
        for rule in table["rules"]:
            counts[rule["chain"]] = counts.get(rule["chain"], 0) + 1
        for fw in networks:
            fwd, nat = network_rules(fw)
            for chain, rules in ((fw.chains[0], fwd), (fw.chains[1], nat)):
                if not rules:
                    continue
                if chain not in table["chains"]:
                    problems.append(f"chain {chain} of network {fw.network} is missing")
                elif counts.get(chain, 0) != len(rules):
                    problems.append(f"chain {chain} has {counts.get(chain, 0)} rules, expected {len(rules)}")
            if fw.bridge not in table["elements"]:
                problems.append(f"bridge {fw.bridge} of network {fw.network} is not in set {SET} (isolation)")
        infra = port_infra_rules()
        for chain in INFRA_CHAINS:
            want = sum(1 for r in infra if r.chain == chain)
            if counts.get(chain, 0) != want:
                problems.append(f"chain {chain} has {counts.get(chain, 0)} rules, expected {want}")
        live = self._map_keys()
        for pf in forwards:
            for name, key, _value in port_elements(pf):
                if json.dumps(key, sort_keys=True) not in live.get(name, set()):
                    problems.append(f"published port {pf.proto} {pf.host_ip or '0.0.0.0'}:{key['concat'][-1]} "
                                    f"of network {pf.network} is missing from map {name}")
                    break
        return problems

    def _map_keys(self) -> dict[str, set[str]]:
        rc, out, _ = self._ctx().json_cmd({"nftables": [{"list": {"table": {"family": FAMILY, "name": TABLE}}}]})
        keys: dict[str, set[str]] = {}
        if rc != 0 or not isinstance(out, dict):
            return keys
        for item in out.get("nftables", []):
            m = item.get("map")
            if m and m.get("name") in PORT_MAPS:
                keys[m["name"]] = {json.dumps(e[0], sort_keys=True) for e in m.get("elem", [])}
        return keys

    def foreign_forward_drops(self) -> list[str]:
        """Base chains of other tables at the forward hook whose policy is drop (they drop cnictl's traffic)."""
        rc, out, _ = self._ctx().json_cmd({"nftables": [{"list": {"ruleset": None}}]})
        found = []
        if rc == 0 and isinstance(out, dict):
            for item in out.get("nftables", []):
                c = item.get("chain")
                if c and c.get("hook") == "forward" and c.get("policy") == "drop" and c.get("table") != TABLE:
                    found.append(f"{c['family']} {c['table']} {c['name']}")
        return found

    # ---- leftovers (cnictl doctor) ---------------------------------------------------------
    def _table_if_any(self) -> dict[str, Any] | None:
        try:
            return self.table()
        except DependencyError:  # no libnftables: no table of cnictl's to look at either
            return None

    def bridges_in_rules(self) -> set[str]:
        """Every bridge table inet cnictl names (set elements and rule matches)."""
        from cnictl.firewall.nftables.leftovers import nft_bridges

        return nft_bridges(self._table_if_any())

    def leftovers(self, known: Records, host: Host) -> list[Leftover]:
        """Chains and set elements of table inet cnictl that no network using nftables accounts for."""
        from cnictl.firewall.nftables.leftovers import leftover_nft

        found = leftover_nft(self._table_if_any(), known, f"{host.exec_prefix()}nft")
        return found + self._port_leftovers(known, f"{host.exec_prefix()}nft")

    def _port_leftovers(self, known: Records, nft: str) -> list[Leftover]:
        """Published-port map elements whose container address no attachment record holds."""
        import shlex

        held = {a.split("/")[0] for att in getattr(known, "attachments", []) for a in att.addresses}
        cmds: list[str] = []
        gone: list[str] = []
        for addr_map, port_map in (("ports-addr", "ports-port"), ("any-addr", "any-port")):
            rc, out, _err = self._ctx().json_cmd({"nftables": [{"list": {"map": {"family": FAMILY, "table": TABLE,
                                                                                   "name": addr_map}}}]})
            if rc != 0:
                continue
            for item in out.get("nftables", []) if isinstance(out, dict) else []:
                for elem in (item.get("map", {}).get("elem") or []) if isinstance(item, dict) else []:
                    key, value = elem if isinstance(elem, list) and len(elem) == 2 else (None, None)
                    if key is None or str(value) in held:
                        continue
                    parts = key.get("concat", [key]) if isinstance(key, dict) else [key]
                    text = " . ".join(str(x) for x in parts)
                    gone.append(f"{text} -> {value}")
                    cmds += [f"delete element {FAMILY} {TABLE} {m} {{ {text} }}" for m in (addr_map, port_map)]
        if not cmds:
            return []
        return [Leftover("leftover.nft.ports", f"published-port mapping(s) {', '.join(gone)} of no attachment",
                         f"{nft} {shlex.quote('; '.join(cmds))}", tuple(cmds))]

    def remove_leftover(self, leftover: Leftover) -> None:
        """Run a leftover's commands (`cnictl gc`): in one transaction, or, when part of it is gone already (the
        batch fails as a whole), one by one, where "No such file or directory" is fine."""
        if not leftover.commands:
            return
        ctx = self._ctx()
        ctx.set_json_output(False)
        try:
            rc, _out, err = ctx.cmd("\n".join(leftover.commands))
            if rc == 0:
                return
            for cmd in leftover.commands:
                rc, _out, err = ctx.cmd(cmd)
                if rc != 0 and "No such file or directory" not in str(err):
                    raise FirewallError(f"nft {cmd}: {str(err).strip().splitlines()[0] if err else 'failed'}")
        finally:
            ctx.set_json_output(True)

    # ---- reads -------------------------------------------------------------------------
    def rules(self, network: NetworkFirewall | None = None) -> list[dict[str, Any]]:
        table = self.table()
        if table is None:
            return []
        out = []
        for rule in table["rules"]:
            chain = rule["chain"]
            if network is not None and chain not in network.chains:
                continue
            out.append({"chain": chain, "handle": rule.get("handle"), "expr": rule["expr"]})
        return out

    def text(self, network: NetworkFirewall | None = None) -> str:
        ctx = self._ctx()
        ctx.set_json_output(False)
        try:
            if network is None:
                rc, out, _ = ctx.cmd(f"list table {FAMILY} {TABLE}")
                return str(out) if rc == 0 else ""
            parts = []
            for chain in network.chains:
                rc, out, _ = ctx.cmd(f"list chain {FAMILY} {TABLE} {chain}")
                if rc == 0:
                    parts.append(str(out))
            return "".join(parts)
        finally:
            ctx.set_json_output(True)


PROBE_TABLE = "cnictl-probe"


def probe() -> str | None:
    """Add, then delete, a scratch table with what cnictl's rules need: a filter chain at the forward hook
    (ct state), a nat chain at postrouting (masquerade). Returns None if that worked, else the error.

    Runs in the current namespace with a fresh libnftables context: `cnictl doctor` calls it while visiting
    its throwaway namespace. Raises DependencyError when libnftables or its Python module is missing.
    """
    nft = NftablesBackend()._ctx()
    obj = {"family": FAMILY, "table": PROBE_TABLE}
    ct = _match({"ct": {"key": "state"}}, ["established", "related"], "in")
    add = [
        {"add": {"table": {"family": FAMILY, "name": PROBE_TABLE}}},
        {"add": {"chain": {**obj, "name": "fwd", "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}}},
        {"add": {"chain": {**obj, "name": "nat", "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}}},
        {"add": {"rule": {**obj, "chain": "fwd", "expr": [ct, {"accept": None}]}}},
        {"add": {"rule": {**obj, "chain": "nat", "expr": [{"masquerade": None}]}}},
    ]
    rc, _out, err = nft.json_cmd({"nftables": add})
    if rc != 0:
        return f"add table {FAMILY} {PROBE_TABLE}: {str(err).strip() or 'failed'}"
    rc, _out, err = nft.json_cmd({"nftables": [{"delete": {"table": {"family": FAMILY, "name": PROBE_TABLE}}}]})
    if rc != 0:
        return f"delete table {FAMILY} {PROBE_TABLE}: {str(err).strip() or 'failed'}"
    return None


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

    def journal(self) -> dict[str, Any]:
        return {"fw": fw_data(self.fw)}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> NftSetup:
        step = cls(NftablesBackend(), fw_from(data["fw"]))
        step.applied = True  # (cut short: the teardown removes what of this new network's rules exists)
        return step

    def explain(self, host: Host) -> list[str]:
        return _nft_lines(host, self.backend.setup_commands(self.fw)[1])


class NftPublish(Step):
    """Add the DNAT map elements of published ports (one batch); undo removes them."""

    def __init__(self, backend: NftablesBackend, forwards: Callable[[], list[PortForward]], summary: str) -> None:
        self.backend, self.forwards = backend, forwards
        self.summary = f"publish {summary}"
        self.done: list[PortForward] = []

    def apply(self, host: Host) -> None:
        fwds = self.forwards()
        if fwds:
            elements = self.backend.element_commands(fwds, "add")
            # Only the elements: re-adding the port chains would make the kernel walk every element of the
            # maps their rules use (the cost would grow with the number of mappings). If the maps are
            # missing (someone flushed the ruleset), create them in the same batch.
            rc, _out, _err = self.backend._ctx().json_cmd({"nftables": elements})
            if rc != 0:
                self.backend.run(self.backend.infra_commands()[0] + elements, self.summary)
        self.done = fwds

    def undo(self, host: Host) -> None:
        if self.done:
            self.backend.remove_elements(self.done)

    def journal(self) -> dict[str, Any]:
        return {"summary": self.summary.removeprefix("publish ")}  # the mappings are known once it ran

    def journal_out(self) -> dict[str, Any]:
        return {"done": forwards_data(self.done)}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> NftPublish:
        done = forwards_from(out["done"]) if out is not None else []
        step = cls(NftablesBackend(), lambda: done, data["summary"])
        step.done = done  # (cut short: its elements stay; `cnictl gc` removes elements no attachment owns)
        return step

    def explain(self, host: Host) -> list[str]:
        return _nft_lines(host, [line for pf in self.forwards() for line in _element_text(pf, "add")])


class NftUnpublish(Step):
    def __init__(self, backend: NftablesBackend, forwards: list[PortForward], summary: str) -> None:
        self.backend, self.forwards = backend, forwards
        self.summary = f"unpublish {summary}"

    def apply(self, host: Host) -> None:
        self.backend.remove_elements(self.forwards)  # already gone (or no table at all) is fine

    def journal(self) -> dict[str, Any]:
        return {"forwards": forwards_data(self.forwards), "summary": self.summary.removeprefix("unpublish ")}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> NftUnpublish:
        return cls(NftablesBackend(), forwards_from(data["forwards"]), data["summary"])

    def explain(self, host: Host) -> list[str]:
        return _nft_lines(host, [line for pf in self.forwards for line in _element_text(pf, "delete")])


class NftTeardown(Step):
    """Remove one network's objects (the whole table when nothing else is left in it, as the ruleset shows
    when it runs); explained from the records (*last*), so a dry run reads no kernel."""

    def __init__(self, backend: NftablesBackend, fw: NetworkFirewall, last: bool = False) -> None:
        self.backend, self.fw, self.last = backend, fw, last
        self.summary = f"remove nftables rules of {fw.network}"

    def apply(self, host: Host) -> None:
        cmds, _ = self.backend.teardown_commands(self.fw)
        if cmds:
            self.backend.run(cmds, f"remove rules of network {self.fw.network}")

    def journal(self) -> dict[str, Any]:
        return {"fw": fw_data(self.fw), "last": self.last}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> NftTeardown:
        return cls(NftablesBackend(), fw_from(data["fw"]), data["last"])

    def explain(self, host: Host) -> list[str]:
        return _nft_lines(host, self.backend.teardown_text(self.fw, self.last))
