"""`cnictl attach` and `cnictl detach`: connect a network namespace to a network, or disconnect it."""

from __future__ import annotations

from typing import Annotated

import typer

from cnictl.cli.options import IfnameOpt, NetnsArg, NetworkArg, State, changes

ATTACH_EPILOG = "Example: cnictl attach lab web --ip 10.20.0.50 -p 8080:80"
DETACH_EPILOG = "Example: cnictl detach lab web"


@changes(quiet=True)
def attach(
    ctx: typer.Context,
    network: NetworkArg,
    netns: NetnsArg,
    ifname: IfnameOpt = "eth0",
    ip: Annotated[str | None, typer.Option("--ip", metavar="IP", help="Address to request (default: next free one).")] = None,
    mac: Annotated[str | None, typer.Option("--mac", metavar="MAC", help="MAC address of the namespace's interface.")] = None,
    container_id: Annotated[
        str | None, typer.Option("--id", metavar="ID", help="Container id recorded in IPAM (default: the namespace name).")
    ] = None,
    publish: Annotated[
        list[str] | None,
        typer.Option("--publish", "-p", metavar="SPEC",
                     help="Publish a port (repeatable): [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO], e.g. 8080:80; "
                          "ports may be ranges (8000-8009:80-89), PROTO tcp (default) or udp."),
    ] = None,
) -> None:
    """Attach a network namespace to NETWORK: a veth pair, an address, a default route, published ports."""
    from cnictl.ops import attachments
    from cnictl.ops.requests import AttachRequest
    from cnictl.render import views

    st: State = ctx.obj
    req = AttachRequest(network, netns, ifname=ifname, ip=ip, mac=mac, container_id=container_id, ports=publish or [])
    host = st.host(changes="attach")
    outcome = attachments.attach(host, req, st.run_options())
    st.finish(outcome, views.attached(outcome.result, network), key="ifname")


@changes()
def detach(
    ctx: typer.Context,
    network: NetworkArg,
    netns: NetnsArg,
    ifname: IfnameOpt = "eth0",
    container_id: Annotated[
        str | None, typer.Option("--id", metavar="ID", help="Container id used at attach time, if no record is left.")
    ] = None,
) -> None:
    """Detach a network namespace from NETWORK; succeeds with a notice if it was not attached."""
    from cnictl.ops import attachments
    from cnictl.render import views

    st: State = ctx.obj
    host = st.host(changes="detach")
    outcome = attachments.detach(host, network, netns, st.run_options(), ifname=ifname, container_id=container_id)
    st.finish(outcome, views.detached(netns, ifname, network), key="ifname")
