"""`cnictl port`: publish container ports on the host (DNAT), list and unpublish them."""

from __future__ import annotations

from typing import Annotated

import typer

from cnictl.cli.options import DryRunOpt, ExplainOpt, IfnameOpt, JsonOpt, NetnsArg, NetworkArg, QuietOpt, State

app = typer.Typer(no_args_is_help=True, help="Publish container ports on the host, list and unpublish them.")
SpecArg = Annotated[str, typer.Argument(help="[HOST_IP:]HOST_PORT[-END]:CONTAINER_PORT[-END][/tcp|/udp]",
                                        show_default=False)]


@app.command("publish", epilog="Example: cnictl port publish lab web 8080:80/tcp")
def publish(ctx: typer.Context, network: NetworkArg, netns: NetnsArg, spec: SpecArg, ifname: IfnameOpt = "eth0",
            json_mode: JsonOpt = False, dry_run: DryRunOpt = False, explain: ExplainOpt = False) -> None:
    """Publish a port of an attached namespace on the host."""
    from cnictl import ops

    st: State = ctx.obj.merge(json_mode=json_mode, dry_run=dry_run, explain=explain)
    host = st.host(changes="port publish")
    outcome = ops.port_publish(host, network, netns, spec, st.run_options(), ifname=ifname)
    st.finish(outcome, f"published {spec} -> {netns}/{ifname} on {network}")


@app.command("unpublish", epilog="Example: cnictl port unpublish lab web 8080:80/tcp")
def unpublish(ctx: typer.Context, network: NetworkArg, netns: NetnsArg, spec: SpecArg, ifname: IfnameOpt = "eth0",
              json_mode: JsonOpt = False, dry_run: DryRunOpt = False, explain: ExplainOpt = False) -> None:
    """Remove a published port."""
    from cnictl import ops

    st: State = ctx.obj.merge(json_mode=json_mode, dry_run=dry_run, explain=explain)
    host = st.host(changes="port unpublish")
    outcome = ops.port_unpublish(host, network, netns, spec, st.run_options(), ifname=ifname)
    st.finish(outcome, f"unpublished {spec} from {netns}/{ifname}")


@app.command("ls", epilog="Example: cnictl port ls lab --json")
def ls(
    ctx: typer.Context,
    network: Annotated[str | None, typer.Argument(help="Only this network.", show_default=False)] = None,
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """List published ports."""
    from cnictl import ops

    st: State = ctx.obj.merge(json_mode=json_mode, quiet=quiet)
    rows = ops.port_list(st.host(), network)
    st.out.table(rows, [("network", "NETWORK"), ("netns", "NETNS"), ("host_ip", "HOST IP"), ("host_ports", "HOST"),
                        ("container_ip", "CONTAINER IP"), ("container_ports", "CONTAINER"), ("proto", "PROTO")],
                 key="spec")
