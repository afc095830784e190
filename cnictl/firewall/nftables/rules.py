"""The nftables rules cnictl writes, as data: nft text (explain, show) and libnftables JSON (apply).

Pure: builds rules and commands from the network's firewall intent and published ports; nothing here
imports `nftables` or talks to the kernel (the backend in `cnictl.firewall.nftables` sends them).

    >>> fwd, nat = network_rules(NetworkFirewall("lab", "br-lab", ("10.20.0.0/24",), True, False))
    >>> fwd[0].text, nat[-1].text
    ('iifname "br-lab" oifname "br-lab" accept', 'ip saddr 10.20.0.0/24 oifname != "br-lab" masquerade')
"""

from __future__ import annotations

import ipaddress
import json

from cnictl.firewall.base import NetworkFirewall, PortForward

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

NAME = "nftables"  # the backend's name, as networks record it (Network.firewall)
FAMILY = "inet"
TABLE = "cnictl"
SET = "bridges"
OPEN = "open"  # bridges of networks created with --no-isolate: they may talk to each other

# Published ports: DNAT through maps, so one more mapping costs the same with 1 or 10,000 of them.
# Keys are (host address . protocol . port) or, for "all addresses", (protocol . port); two maps per key
# give the container address and port (libnftables 1.0.6's JSON cannot express one map with a
# concatenated value).
PORT_MAPS = {
    "ports-addr": (["ipv4_addr", "inet_proto", "inet_service"], "ipv4_addr"),
    "ports-port": (["ipv4_addr", "inet_proto", "inet_service"], "inet_service"),
    "any-addr": (["inet_proto", "inet_service"], "ipv4_addr"),
    "any-port": (["inet_proto", "inet_service"], "inet_service"),
}
INFRA_CHAINS = ("ports-pre", "ports-out", "ports-post")
_DADDR = {"payload": {"protocol": "ip", "field": "daddr"}}
_L4 = {"meta": {"key": "l4proto"}}
_DPORT = {"payload": {"protocol": "th", "field": "dport"}}


def _dnat(key: list[dict[str, Any]], addr_map: str, port_map: str) -> dict[str, Any]:
    k = {"concat": key}
    return {"dnat": {"family": "ip", "addr": {"map": {"key": k, "data": f"@{addr_map}"}},
                     "port": {"map": {"key": k, "data": f"@{port_map}"}}}}


def port_infra_rules() -> list[Rule]:
    specific = _dnat([_DADDR, _L4, _DPORT], "ports-addr", "ports-port")
    anyaddr = _dnat([_L4, _DPORT], "any-addr", "any-port")
    s_text = "dnat ip to ip daddr . meta l4proto . th dport map @ports-addr : ip daddr . meta l4proto . th dport map @ports-port"
    a_text = "fib daddr type local dnat ip to meta l4proto . th dport map @any-addr : meta l4proto . th dport map @any-port"
    lo = {"prefix": {"addr": "127.0.0.0", "len": 8}}
    local = _match({"fib": {"result": "type", "flags": ["daddr"]}}, "local")
    return [
        # containers must not reach the host's loopback (route_localnet is on for bridges with published ports)
        Rule("ports-pre", f"iifname @{SET} ip daddr 127.0.0.0/8 drop",
             [_match(_meta("iifname"), f"@{SET}"), _match(_DADDR, lo), {"drop": None}]),
        Rule("ports-pre", s_text, [specific]),
        Rule("ports-pre", a_text, [local, anyaddr]),
        Rule("ports-out", s_text, [specific]),
        Rule("ports-out", a_text, [local, anyaddr]),
        Rule("ports-post", "ip saddr 127.0.0.0/8 ct status dnat masquerade",
             [_match({"payload": {"protocol": "ip", "field": "saddr"}}, lo),
              _match({"ct": {"key": "status"}}, "dnat", "in"), {"masquerade": None}]),
    ]


def port_elements(pf: PortForward) -> list[tuple[str, Any, Any]]:
    """(map, key, value) for every element one mapping needs."""
    out: list[tuple[str, Any, Any]] = []
    for hp, cp in pf.pairs():
        if pf.host_ip:
            key: Any = {"concat": [pf.host_ip, pf.proto, hp]}
            out += [("ports-addr", key, pf.container_ip), ("ports-port", key, cp)]
        else:
            key = {"concat": [pf.proto, hp]}
            out += [("any-addr", key, pf.container_ip), ("any-port", key, cp)]
    return out


def _element_text(pf: PortForward, verb: str) -> list[str]:
    lines = []
    for hp, cp in pf.pairs():
        k = f"{pf.host_ip} . {pf.proto} . {hp}" if pf.host_ip else f"{pf.proto} . {hp}"
        a, p = ("ports-addr", "ports-port") if pf.host_ip else ("any-addr", "any-port")
        if verb == "add":
            lines += [f"add element {FAMILY} {TABLE} {a} {{ {k} : {pf.container_ip} }}",
                      f"add element {FAMILY} {TABLE} {p} {{ {k} : {cp} }}"]
        else:
            lines += [f"delete element {FAMILY} {TABLE} {a} {{ {k} }}", f"delete element {FAMILY} {TABLE} {p} {{ {k} }}"]
    return lines


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
    fwd = [Rule(fwd_chain, f"iifname {q} oifname {q} accept", [iif, oif, {"accept": None}])]
    if not fw.isolate:
        fwd += [
            Rule(fwd_chain, f"iifname {q} oifname @{OPEN} accept", [iif, _match(_meta("oifname"), f"@{OPEN}"), {"accept": None}]),
            Rule(fwd_chain, f"oifname {q} iifname @{OPEN} accept", [oif, _match(_meta("iifname"), f"@{OPEN}"), {"accept": None}]),
        ]
    fwd.append(
        Rule(fwd_chain, f"iifname {q} oifname @{SET} drop", [iif, _match(_meta("oifname"), f"@{SET}"), {"drop": None}])
    )
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
            Rule(fwd_chain, f"oifname {q} ct status dnat accept",
                 [oif, _match({"ct": {"key": "status"}}, "dnat", "in"), {"accept": None}]),
            Rule(fwd_chain, f"oifname {q} drop", [oif, {"drop": None}]),
        ]
    nat: list[Rule] = []
    if not fw.internal:
        # hairpin: a container reaching a published port through the host's address (its own, or another
        # container's on this network) gets the answer back through the host only if the host is the
        # source it sees
        for subnet in fw.subnets:
            net = ipaddress.ip_network(subnet)
            if net.version != 4:
                continue
            prefix = {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}
            ip4 = {"payload": {"protocol": "ip", "field": "saddr"}}
            dst4 = {"payload": {"protocol": "ip", "field": "daddr"}}
            nat.append(Rule(nat_chain, f"ip saddr {net} ip daddr {net} ct status dnat masquerade",
                            [_match(ip4, prefix), _match(dst4, prefix),
                             _match({"ct": {"key": "status"}}, "dnat", "in"), {"masquerade": None}]))
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
