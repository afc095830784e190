"""`cnictl fw`: show the firewall rules cnictl owns (table inet cnictl)."""

from __future__ import annotations

import typer

from cnictl.cli.options import JsonOpt, OptionalNetworkArg, State, changes
from cnictl.errors import CnictlError, cli

app = typer.Typer(no_args_is_help=True, help="Show the firewall rules cnictl owns.")


@app.command("show", epilog="Example: cnictl fw show lab")
def show(
    ctx: typer.Context,
    network: OptionalNetworkArg = None,
    json_mode: JsonOpt = False,
) -> None:
    """Print cnictl's nftables rules (all, or one network's chains)."""
    from cnictl.ops import firewall
    from cnictl.render import views

    st: State = ctx.obj.merge(json_mode=json_mode)
    rules = firewall.fw_show(st.host(), network)
    if st.out.json_mode:
        st.out.json(rules.to_json())
    else:
        views.fw_rules(st.out, rules)


@app.command("reload", epilog="Example: cnictl fw reload --dry-run")
@changes()
def reload(ctx: typer.Context) -> None:
    """Re-apply every rule cnictl owns from its state (after a flush or a firewall restart)."""
    from cnictl.ops import firewall
    from cnictl.render import views

    st: State = ctx.obj
    outcome = firewall.fw_reload(st.host(changes="fw reload"), st.run_options())
    st.finish(outcome, views.fw_reloaded(outcome.result))


@app.command("check", epilog="Example: cnictl fw check --json")
def check(ctx: typer.Context, json_mode: JsonOpt = False) -> None:
    """Report missing cnictl rules and firewall settings that break cnictl networks; exit 1 if any."""
    from cnictl.ops import firewall
    from cnictl.render import views

    st: State = ctx.obj.merge(json_mode=json_mode)
    r = firewall.fw_check(st.host(changes="fw check"))
    if st.out.json_mode:
        st.out.json(r.to_json())
    else:
        views.fw_checked(st.out, r)
    if not r.ok:
        raise CnictlError(f"{len(r.problems)} problem(s) found", hint=f"see above; {cli('fw reload')} restores cnictl's rules")
