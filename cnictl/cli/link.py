"""`cnictl link`: direct veth links between two network namespaces (point-to-point lab links)."""

from __future__ import annotations

from typing import Annotated

import typer

from cnictl.cli import complete
from cnictl.cli.options import FormatOpt, JsonOpt, QuietOpt, State, changes
from cnictl.render import views

app = typer.Typer(no_args_is_help=True, help="Add, list and remove direct veth links between two network namespaces.")
END_HELP = "NETNS[:IFNAME]: a namespace name or path, and the interface in it"
End1Arg = Annotated[str, typer.Argument(metavar="END1", show_default=False, autocompletion=complete.namespaces,
                                        help=f"{END_HELP} (default: its first free ethN).")]
End2Arg = Annotated[str, typer.Argument(metavar="END2", show_default=False, autocompletion=complete.namespaces,
                                        help=f"{END_HELP}, as END1.")]
EndArg = Annotated[str, typer.Argument(metavar="END", show_default=False, autocompletion=complete.namespaces,
                                       help=f"{END_HELP}: either end of the link.")]

COLUMNS = views.LINK_COLUMNS


@app.command("add", epilog="Example: cnictl link add r1:eth1 r2:eth1 --address1 10.0.12.1/30 --address2 10.0.12.2/30")
@changes(quiet=True)
def add(
    ctx: typer.Context,
    end1: End1Arg,
    end2: End2Arg,
    address1: Annotated[
        list[str] | None, typer.Option("--address1", metavar="CIDR", help="Address/prefix of END1 (repeatable).")
    ] = None,
    address2: Annotated[
        list[str] | None, typer.Option("--address2", metavar="CIDR", help="Address/prefix of END2 (repeatable).")
    ] = None,
    mtu: Annotated[int | None, typer.Option("--mtu", metavar="N", help="MTU of both ends (default: the kernel's, 1500).")] = None,
) -> None:
    """Connect two network namespaces with a veth pair: one end in each, addresses optional, both up."""
    from cnictl.ops import links

    st: State = ctx.obj
    host = st.host(changes="link add")
    outcome = links.link_add(host, end1, end2, st.run_options(), addresses1=list(address1 or []),
                             addresses2=list(address2 or []), mtu=mtu)
    st.finish(outcome, views.linked(outcome.result), key="end1")


@app.command("ls", epilog="Example: cnictl link ls --json")
def ls(ctx: typer.Context, json_mode: JsonOpt = False, quiet: QuietOpt = False, fmt: FormatOpt = "auto") -> None:
    """List the links cnictl made (from its records) and whether each is still there."""
    from cnictl.ops import links

    st: State = ctx.obj.merge(json_mode=json_mode, quiet=quiet, fmt=fmt)
    views.links(st.out, links.link_list(st.host()))


@app.command("rm", epilog="Example: cnictl link rm r1:eth1")
@changes()
def rm(
    ctx: typer.Context,
    end: EndArg,
    force: Annotated[bool, typer.Option("--force", "-f", help="Delete the interface even without a cnictl record.")] = False,
) -> None:
    """Remove a link by either end (the peer goes too); succeeds with a notice if it is already gone."""
    from cnictl.ops import links

    st: State = ctx.obj
    host = st.host(changes="link rm")
    st.finish(links.link_remove(host, end, st.run_options(), force=force), views.link_removed(end), key="end")
