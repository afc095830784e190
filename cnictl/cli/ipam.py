"""`cnictl ipam`: show and release address reservations (host-local compatible store)."""

from __future__ import annotations

from typing import Annotated

import typer

from cnictl.cli.options import (
    FormatOpt,
    JsonOpt,
    NetworkArg,
    OptionalNetworkArg,
    QuietOpt,
    State,
    changes,
)
from cnictl.render import views

app = typer.Typer(no_args_is_help=True, help="Show and release IP address reservations.")
ALLOCATION_COLUMNS = views.ALLOCATION_COLUMNS


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
    views.ipam(st.out, ipam.ipam_show(st.host(), network), single=network is not None)


@app.command("release", epilog="Example: cnictl ipam release lab 10.20.0.5")
@changes()
def release(
    ctx: typer.Context,
    network: NetworkArg,
    ip: Annotated[str | None, typer.Argument(metavar="IP", help="Address to release.", show_default=False)] = None,
    container_id: Annotated[
        str | None, typer.Option("--id", metavar="ID", help="Release every address of this container id.")
    ] = None,
) -> None:
    """Release one address, or all addresses of a container id."""
    from cnictl.ops import ipam

    st: State = ctx.obj
    outcome = ipam.ipam_release(st.host(changes="ipam release"), network, ip, container_id, st.run_options())
    st.finish(outcome, views.ipam_released(outcome.result))
