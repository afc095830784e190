"""What in table inet cnictl belongs to no network: read from a table listing, for `cnictl doctor`.

Pure: *table* is `NftablesBackend.table()` ({"chains": {name: ...}, "rules": [...], "elements": [...],
"open": [...]}, or None when there is no table); each finding comes with the `nft` command that removes it.

    >>> nft_bridges({"chains": {}, "rules": [], "elements": ["br-lab"], "open": []})
    {'br-lab'}
"""

from __future__ import annotations

import shlex

from cnictl.firewall.base import Leftover
from cnictl.firewall.nftables.rules import FAMILY, INFRA_CHAINS, NAME, OPEN, SET, TABLE

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from cnictl.firewall.protocol import Records

_WHERE = f"{FAMILY} {TABLE}"


def rule_bridge(rule: dict[str, Any]) -> str | None:
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
    found |= {b for r in table.get("rules", []) if (b := rule_bridge(r))}
    return found


def leftover_nft(table: dict[str, Any] | None, known: Records, nft: str) -> list[Leftover]:
    """Chains (and set elements) of table inet cnictl that belong to no network using nftables.

    *known* holds the network records (those with firewall "nftables" own chains here); *nft* is the
    command prefix of the hints (`ip netns exec HOST nft` or `nft`).
    """
    if table is None:
        return []
    users = [n for n in known.networks if n.firewall == NAME]
    if not users:
        listed = ", ".join(sorted(table.get("chains", {}))) or "none"
        return [Leftover("leftover.nft.table", f"table {_WHERE} exists but no network uses nftables (chains: {listed})",
                         f"{nft} delete table {_WHERE}", (f"delete table {_WHERE}",))]
    mine = {c for n in users for c in (f"{n.name}-fwd", f"{n.name}-nat")}
    from cnictl.drivers import host_links

    own_bridges = host_links(users)
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
        bridges = {b for r in table.get("rules", []) if r.get("chain") in chains and (b := rule_bridge(r))}
        cmds = [f"delete chain {_WHERE} {c}" for c in chains]
        for b in sorted(bridges):
            if b in stray:
                cmds.append(f'delete element {_WHERE} {SET} {{ "{b}" }}')
                stray.remove(b)
            if b in stray_open:
                cmds.append(f'delete element {_WHERE} {OPEN} {{ "{b}" }}')
                stray_open.remove(b)
        on = f" (bridge {', '.join(sorted(bridges))})" if bridges else ""
        out.append(Leftover(f"leftover.nft.{net}",
                            f"chain(s) {', '.join(chains)} in table {_WHERE} for network {net}{on}, which has no record",
                            f"{nft} {shlex.quote('; '.join(cmds))}", tuple(cmds)))
    if stray or stray_open:
        cmds = [f'delete element {_WHERE} {SET} {{ "{b}" }}' for b in stray]
        cmds += [f'delete element {_WHERE} {OPEN} {{ "{b}" }}' for b in stray_open]
        out.append(Leftover("leftover.nft.sets",
                            f"bridge(s) {', '.join(sorted({*stray, *stray_open}))} in cnictl's isolation sets belong to "
                            "no network", f"{nft} {shlex.quote('; '.join(cmds))}", tuple(cmds)))
    return out
