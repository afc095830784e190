"""`cnictl ipam`: show and release address reservations (host-local compatible store)."""

from __future__ import annotations

from typing import Annotated

import typer

from cnictl.cli.options import (
    DryRunOpt,
    ExplainOpt,
    FormatOpt,
    JsonOpt,
    NetworkArg,
    OptionalNetworkArg,
    QuietOpt,
    State,
)
from cnictl.render.output import Column, human_count

app = typer.Typer(no_args_is_help=True, help="Show and release IP address reservations.")
ALLOCATION_COLUMNS = [Column("ip", "IP", no_wrap=True), Column("container_id", "CONTAINER ID"),
                      Column("ifname", "IFNAME", no_wrap=True), Column("netns", "NETNS")]


@app.command("show", epilog="Example: cnictl ipam show lab")
def show(
    ctx: typer.Context,
    network: OptionalNetworkArg = None,
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
    fmt: FormatOpt = "auto",
) -> None:
    """Show each network's subnets with used/free counts, and every allocation.

    Counts of 2^32 and more are shown as powers of two (an IPv6 /64 holds 2^64-2 addresses); --json
    has the exact numbers. -q prints the allocated addresses; --format tsv, one table of every
    allocation with its network.
    """
    from cnictl.ops import ipam

    st: State = ctx.obj.merge(json_mode=json_mode, quiet=quiet, fmt=fmt)
    data = ipam.ipam_show(st.host(), network)
    out = st.out
    if out.json_mode:
        out.json(data if network is None else data[0])
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


@app.command("release", epilog="Example: cnictl ipam release lab 10.20.0.5")
def release(
    ctx: typer.Context,
    network: NetworkArg,
    ip: Annotated[str | None, typer.Argument(metavar="IP", help="Address to release.", show_default=False)] = None,
    container_id: Annotated[
        str | None, typer.Option("--id", metavar="ID", help="Release every address of this container id.")
    ] = None,
    json_mode: JsonOpt = False,
    dry_run: DryRunOpt = False,
    explain: ExplainOpt = False,
) -> None:
    """Release one address, or all addresses of a container id."""
    from cnictl.ops import ipam

    st: State = ctx.obj.merge(json_mode=json_mode, dry_run=dry_run, explain=explain)
    outcome = ipam.ipam_release(st.host(changes="ipam release"), network, ip, container_id, st.run_options())
    st.finish(outcome, f"released {', '.join(outcome.result['released'])} in {network}")
