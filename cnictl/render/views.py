"""How each result is laid out for people: the columns of every listing, the fields of every record, and the
one line each change prints. The commands in cnictl/cli/ parse, call the use case, and hand its typed result
here; `--json` prints the result's to_json() unchanged (cnictl.ops.requests), so this module decides only
what people read.

    >>> attached({"netns": "web", "ifname": "eth0", "addresses": ["10.20.0.2/24"], "host_ifname": "veth1", "mac": ""}, "lab")
    'attached web to lab: eth0 10.20.0.2/24 (host side veth1)'

rich and tabulate are imported by Output only when a table is drawn: a change's one-line summary (the
`cnictl attach` path) imports neither.
"""

from __future__ import annotations

from cnictl.render.output import Column

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from cnictl.render.output import Output

    Row = Any  # a result read by key: a typed result of cnictl.ops.requests (a View) or its JSON object


def _plain(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows as JSON objects: typed results by their to_json(), dicts (from library code not yet typed) as they are."""
    return [r.to_json() if hasattr(r, "to_json") else dict(r) for r in rows]


# ---- networks ------------------------------------------------------------------------------------------
NETWORK_COLUMNS = [Column("name", "NAME", no_wrap=True), Column("driver", "DRIVER", no_wrap=True),
                   Column("subnets", "SUBNETS"), Column("link", "BRIDGE/PARENT"), Column("internal", "INTERNAL"),
                   Column("attachments", "ATTACHED")]
NETWORK_ATTACHMENT_COLUMNS = [Column("netns", "NETNS"), Column("ifname", "IFNAME", no_wrap=True),
                              Column("addresses", "ADDRESSES"), Column("mac", "MAC", no_wrap=True),
                              Column("host_ifname", "HOST IF", no_wrap=True), Column("container_id", "ID")]


def network_created(v: Any) -> str:
    """`net create` (a NetworkView): the driver, the subnets and the driver's own description."""
    net = v.network
    subnets = ", ".join(s.subnet for s in net.subnets)
    return f"created network {net.name} ({net.driver}, {subnets}, {v.description})"


def network_removed(name: str) -> str:
    return f"removed network {name}"


def networks(out: Output, views: Sequence[Any]) -> None:
    """`net ls` (NetworkViews): one row per network, its BRIDGE/PARENT column as its driver labels it (-q: the
    names)."""
    data = _plain(views)
    rows = [dict(d, subnets=[s["subnet"] for s in d["subnets"]], link=v.link)
            for v, d in zip(views, data, strict=True)]
    out.table(rows, NETWORK_COLUMNS, raw=data)


def network(out: Output, v: Any) -> None:
    """`net inspect` (a NetworkView): the common fields around the driver's own (its inspect_fields), then a
    table of the attachments (-q: the name; --json: to_json())."""
    d = v.to_json()
    if out.json_mode or out.quiet:
        out.record(d)
        return
    shown = dict(d, subnets=[f"{s['subnet']} gw {s['gateway']}" for s in d["subnets"]],
                 attachments=len(d["attachments"]))
    out.record(shown, [("name", "name"), ("driver", "driver"), *v.fields,
                       ("labels", "labels"), ("ipam_dir", "ipam dir"), ("created", "created"),
                       ("attachments", "attachments")])
    if d["attachments"]:
        out.line("")
        out.table(d["attachments"], NETWORK_ATTACHMENT_COLUMNS)


# ---- attach / detach ---------------------------------------------------------------------------------------
def attached(r: Row, network: str) -> str:
    """`cnictl attach`: the namespace, its interface and addresses, and the host side (veth) or MAC (macvlan)."""
    side = f"host side {r['host_ifname']}" if r["host_ifname"] else f"mac {r['mac'] or 'of the parent'}"
    return f"attached {r['netns']} to {network}: {r['ifname']} {', '.join(r['addresses'])} ({side})"


def detached(netns: str, ifname: str, network: str) -> str:
    return f"detached {netns}/{ifname} from {network}"


# ---- ports ---------------------------------------------------------------------------------------------
PORT_COLUMNS = [Column("network", "NETWORK"), Column("netns", "NETNS"), Column("host_ip", "HOST IP", no_wrap=True),
                Column("host_ports", "HOST", no_wrap=True), Column("container_ip", "CONTAINER IP", no_wrap=True),
                Column("container_ports", "CONTAINER", no_wrap=True), Column("proto", "PROTO", no_wrap=True)]


def published(spec: str, netns: str, ifname: str, network: str) -> str:
    return f"published {spec} -> {netns}/{ifname} on {network}"


def unpublished(spec: str, netns: str, ifname: str) -> str:
    return f"unpublished {spec} from {netns}/{ifname}"


def ports(out: Output, rows: Sequence[Row]) -> None:
    """`port ls`: one row per mapping (-q: their specs)."""
    out.table(_plain(rows), PORT_COLUMNS, key="spec")


# ---- namespaces ----------------------------------------------------------------------------------------
NAMESPACE_COLUMNS = [Column("name", "NAME", no_wrap=True), Column("path", "PATH")]


def ns_added(name: str) -> str:
    return f"created network namespace {name}"


def ns_removed(name: str) -> str:
    return f"removed network namespace {name}"


def namespaces(out: Output, rows: Sequence[Row]) -> None:
    """`ns ls` (-q: the names)."""
    out.table(_plain(rows), NAMESPACE_COLUMNS)


# ---- links ---------------------------------------------------------------------------------------------
LINK_COLUMNS = [Column("end1", "END1"), Column("addresses1", "ADDRESSES1"), Column("end2", "END2"),
                Column("addresses2", "ADDRESSES2"), Column("mtu", "MTU", no_wrap=True),
                Column("present", "PRESENT", status=True, no_wrap=True)]


def linked(r: Row) -> str:
    """`link add`: both ends, each with its addresses."""
    def side(end: str, cidrs: list[str]) -> str:
        return f"{end} ({', '.join(cidrs)})" if cidrs else end

    return f"linked {side(r['end1'], r['addresses1'])} <-> {side(r['end2'], r['addresses2'])}"


def link_removed(end: str) -> str:
    return f"removed link {end}"


def links(out: Output, rows: Sequence[Row]) -> None:
    """`link ls` (-q: the first ends)."""
    out.table(_plain(rows), LINK_COLUMNS, key="end1")


# ---- forwarding ----------------------------------------------------------------------------------------
def forward_set(r: Row, enable: bool) -> str:
    """`forward enable|disable`: what is on or off now, and whether it already was."""
    what = "enabled" if enable else "disabled"
    changed = "" if r["changed"] else " (already so)"
    return f"forwarding {what}: {', '.join(r['forwarding'])}{changed}"


def forward_quiet_line(row: Row, fams: Sequence[str]) -> str:
    """`-q forward status`: the interface and its sysctl values, e.g. "all 1 0" (- when unreadable)."""
    return " ".join([row["interface"], *("-" if row[f] is None else "1" if row[f] else "0" for f in fams)])


def forward_status(out: Output, rows: Sequence[Row], fams: Sequence[str]) -> None:
    """`forward status`: a table of interfaces and families (-q: forward_quiet_line per interface)."""
    data = _plain(rows)
    if out.quiet:
        out.out.writelines(forward_quiet_line(r, fams) + "\n" for r in data)
        return
    cols = [Column("interface", "INTERFACE"), *(Column(f, f.upper(), status=True) for f in fams)]
    out.table(data, cols, key="interface")


def fw_reloaded(r: Row) -> str:
    """`fw reload` (an FwReloaded): what the reloaded rules cover, and the backends."""
    return (f"reloaded the rules of {r['networks']} network(s) and {r['port_mappings']} published port(s) "
            f"({', '.join(r['backends'])})")


def fw_rules(out: Output, r: Row) -> None:
    """`fw show` (an FwRules): the rules as their backend's own text, or a notice that there are none."""
    if r.text:
        out.out.write(r.text)
    else:
        out.notice("no cnictl rules")


def fw_checked(out: Output, r: Row) -> None:
    """`fw check` (an FwCheck): one line per problem and note, then the ok line when there is no problem."""
    for p in r.problems:
        out.line(f"problem: {p}")
    for n in r.notes:
        out.line(f"note: {n}")
    if r.ok:
        out.line(f"ok: the rules of {r.networks} network(s) and {r.port_mappings} published port(s) are in place")


# ---- ipam ----------------------------------------------------------------------------------------------
ALLOCATION_COLUMNS = [Column("ip", "IP", no_wrap=True), Column("container_id", "CONTAINER ID"),
                      Column("ifname", "IFNAME", no_wrap=True), Column("netns", "NETNS")]


def ipam_released(r: Row) -> str:
    """`ipam release` (an IpamReleased): the addresses released."""
    return f"released {', '.join(r['released'])} in {r['network']}"


def ipam(out: Output, views: Sequence[Row], *, single: bool = False) -> None:
    """`ipam show`: per network, one line per range (counts of 2^32 and more as powers of two) and a table of
    its reservations; -q and --format tsv: one table of every reservation with its network. JSON: the list,
    or the one network's object when *single*."""
    from cnictl.render.output import human_count

    data = _plain(views)
    if out.json_mode:
        out.json(data[0] if single else data)
        return
    allocations = [dict(a, network=d["network"]) for d in data for a in d["allocations"]]
    if out.quiet or out.fmt == "tsv":
        out.table(allocations, [Column("network", "NETWORK"), *ALLOCATION_COLUMNS], key="ip")
        return
    for i, d in enumerate(data):
        if i:
            out.line("")
        for s in d["subnets"]:
            cap = human_count(s["capacity"])
            out.prose(f"{d['network']}: {s['subnet']}", f"gateway {s['gateway']}", f"range {s['range']}",
                      f"used {s['used']}/{cap if cap.isdigit() else f'({cap})'} free {human_count(s['free'])}")
        if d["allocations"]:
            out.table(d["allocations"], ALLOCATION_COLUMNS, key="ip")
