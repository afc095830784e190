"""`cnictl fw`: show the firewall rules cnictl owns (table inet cnictl)."""

from __future__ import annotations

from typing import Annotated

import typer

from cnictl.cli.options import JsonOpt, State

app = typer.Typer(no_args_is_help=True, help="Show the firewall rules cnictl owns.")


@app.command("show", epilog="Example: cnictl fw show lab")
def show(
    ctx: typer.Context,
    network: Annotated[str | None, typer.Argument(help="Only this network's rules.", show_default=False)] = None,
    json_mode: JsonOpt = False,
) -> None:
    """Print cnictl's nftables rules (all, or one network's chains)."""
    from cnictl import ops

    st: State = ctx.obj.merge(json_mode=json_mode)
    d = ops.fw_show(st.host(), network)
    if st.out.json_mode:
        st.out.json({"backend": d["backend"], "rules": d["rules"]})
    elif d["text"]:
        st.out.out.write(d["text"])
    else:
        st.out.notice("no cnictl rules")
