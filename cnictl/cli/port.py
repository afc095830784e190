"""`cnictl port`: publish container ports on the host (DNAT), list and unpublish them."""

from __future__ import annotations

from typing import Annotated

import typer

from cnictl.cli.options import (
    FormatOpt,
    IfnameOpt,
    JsonOpt,
    NetnsArg,
    NetworkArg,
    OptionalNetworkArg,
    QuietOpt,
    State,
    changes,
)
from cnictl.render import views

app = typer.Typer(no_args_is_help=True, help="Publish container ports on the host, list and unpublish them.")
SpecArg = Annotated[
    str,
    typer.Argument(metavar="SPEC", show_default=False,
                   help="Port mapping [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO], e.g. 8080:80 or 127.0.0.1:5353:53/udp; "
                        "a port may be a range (8000-8009:80-89); PROTO is tcp (default) or udp."),
]
COLUMNS = views.PORT_COLUMNS


@app.command("publish", epilog="Example: cnictl port publish lab web 8080:80/tcp")
@changes()
def publish(ctx: typer.Context, network: NetworkArg, netns: NetnsArg, spec: SpecArg, ifname: IfnameOpt = "eth0") -> None:
    """Publish a port of an attached namespace on the host."""
    from cnictl.ops import ports

    st: State = ctx.obj
    host = st.host(changes="port publish")
    outcome = ports.port_publish(host, network, netns, spec, st.run_options(), ifname=ifname)
    st.finish(outcome, views.published(spec, netns, ifname, network))


@app.command("unpublish", epilog="Example: cnictl port unpublish lab web 8080:80/tcp")
@changes()
def unpublish(ctx: typer.Context, network: NetworkArg, netns: NetnsArg, spec: SpecArg, ifname: IfnameOpt = "eth0") -> None:
    """Remove a published port."""
    from cnictl.ops import ports

    st: State = ctx.obj
    host = st.host(changes="port unpublish")
    outcome = ports.port_unpublish(host, network, netns, spec, st.run_options(), ifname=ifname)
    st.finish(outcome, views.unpublished(spec, netns, ifname))


@app.command("ls", epilog="Example: cnictl port ls lab --json")
def ls(
    ctx: typer.Context,
    network: OptionalNetworkArg = None,
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
    fmt: FormatOpt = "auto",
) -> None:
    """List published ports (-q: their specs)."""
    from cnictl.ops import ports

    st: State = ctx.obj.merge(json_mode=json_mode, quiet=quiet, fmt=fmt)
    views.ports(st.out, ports.port_list(st.host(), network))
