"""`cnictl doctor`: check the kernel features, settings and leftovers of the host cnictl acts on."""

from __future__ import annotations

import typer

from cnictl.cli.options import FormatOpt, JsonOpt, State
from cnictl.errors import cli
from cnictl.render.output import Column

EPILOG = "Example: cnictl doctor --json"
COLUMNS = [Column("check", "CHECK", no_wrap=True), Column("status", "STATUS", status=True, no_wrap=True),
           Column("detail", "DETAIL")]
HINT = Column("hint", "HINT")


def doctor(ctx: typer.Context, json_mode: JsonOpt = False, fmt: FormatOpt = "auto") -> None:
    """Check this host for cnictl: kernel features, forwarding, br_netfilter, leftovers; exit 1 if anything is wrong.

    Link kinds (veth, bridge, macvlan, ipvlan, 802.1Q vlan, vxlan), tc qdiscs (tbf, htb), nftables
    and iptables are tried in a throwaway network namespace that is removed afterwards; nothing is
    created in the host namespace. Then forwarding, br_netfilter and cnictl's rules are read there,
    and links, nftables chains, iptables rules and IPAM reservations that look like cnictl's but
    have no network or attachment record are listed, each with the command that removes it.

    Status: ok; missing = an optional feature is absent (macvlan, ipvlan, vlan, vxlan, qdiscs, or one
    firewall backend while the other works); warn = worth knowing; fail = wrong: a core feature
    (veth, bridge, or both firewall backends) is missing, forwarding is off while a network needs
    it, cnictl's rules are incomplete or other rules drop its traffic, or there is a leftover. Exit
    code 0 when no check has status fail, else 1. --json prints {"ok": ..., "checks": [...]}, each
    check an object {"check", "status", "detail", "hint"}. --format tsv has a HINT column instead
    of the hint lines.
    """
    from cnictl import doctor as lib
    from cnictl.errors import CnictlError

    st: State = ctx.obj.merge(json_mode=json_mode, fmt=fmt)
    checks = lib.run(st.host(changes="doctor"))
    ok = lib.healthy(checks)
    out = st.out
    if out.json_mode:
        out.json({"ok": ok, "checks": [c.to_dict() for c in checks]})
    else:
        out.table([c.to_dict() for c in checks], [*COLUMNS, HINT] if out.fmt == "tsv" else COLUMNS, key="check")
        for c in checks:
            if c.status != lib.OK and c.hint:
                out.prose(f"hint ({c.check}):", c.hint)
        warned = any(c.status == lib.WARN for c in checks)
        out.prose(lib.summary(checks), status=lib.FAIL if not ok else lib.WARN if warned else lib.OK)
    if not ok:
        failed = sum(1 for c in checks if c.status == lib.FAIL)
        raise CnictlError(f"doctor found {failed} problem(s)", hint=f"run the hints, then {cli('doctor')} again")
