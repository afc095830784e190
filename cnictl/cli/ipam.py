"""`cnictl ipam`: show and release address reservations (host-local compatible store)."""

from __future__ import annotations

from typing import Annotated

import typer

from cnictl.cli.options import DryRunOpt, JsonOpt, QuietOpt, State

app = typer.Typer(no_args_is_help=True, help="Show and release IP address reservations.")


@app.command("show", epilog="Example: cnictl ipam show lab")
def show(
    ctx: typer.Context,
    network: Annotated[str | None, typer.Argument(help="Network name (default: all).", show_default=False)] = None,
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Show each network's subnet, used/free counts and every allocation."""
    from cnictl import ops

    st: State = ctx.obj.merge(json_mode=json_mode, quiet=quiet)
    data = ops.ipam_show(st.host(), network)
    out = st.out
    if out.json_mode:
        out.json(data if network is None else data[0])
        return
    if out.quiet:
        for d in data:
            for a in d["allocations"]:
                out.out.write(f"{a['ip']}\n")
        return
    for i, d in enumerate(data):
        if i:
            out.line("")
        for s in d["subnets"]:
            out.line(f"{d['network']}: {s['subnet']} gateway {s['gateway']} range {s['range']} "
                     f"used {s['used']}/{s['capacity']} free {s['free']}")
        if d["allocations"]:
            out.table(d["allocations"], [("ip", "IP"), ("container_id", "CONTAINER ID"), ("ifname", "IFNAME"),
                                         ("netns", "NETNS")], key="ip")


@app.command("release", epilog="Example: cnictl ipam release lab 10.20.0.5")
def release(
    ctx: typer.Context,
    network: Annotated[str, typer.Argument(help="Network name.", show_default=False)],
    ip: Annotated[str | None, typer.Argument(help="Address to release.", show_default=False)] = None,
    container_id: Annotated[str | None, typer.Option("--id", help="Release every address of this container id.")] = None,
    json_mode: JsonOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Release one address, or all addresses of a container id."""
    from cnictl import ops

    st: State = ctx.obj.merge(json_mode=json_mode, dry_run=dry_run)
    host = st.host(changes="ipam release")
    r = ops.ipam_release(host, network, ip, container_id, dry_run=st.dry_run)
    if st.out.json_mode:
        st.out.json(r)
    elif st.dry_run:
        for a in r["released"]:
            st.out.line(f"rm {host.paths.ipam_root / network / a}")
    else:
        st.out.line(f"released {', '.join(r['released'])} in {network}")
